-- Files. ARGV: ns, now, what, owner, file_id. `what`: 'get' (the file's fields or nil),
-- 'list' (the owner's file ids, newest first), 'delete' (1 if it was there, else 0),
-- 'counts' ({files, file bytes, sessions}).
local ns, now, what, owner, file_id = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
upkeep(ns, now)
if what == 'get' then
  local found = redis.call('HGETALL', file_key(ns, owner, file_id))
  if #found == 0 then
    return nil
  end
  return found
elseif what == 'list' then
  return redis.call('ZREVRANGE', ns .. ':files:' .. owner, 0, -1)
elseif what == 'delete' then
  if redis.call('EXISTS', file_key(ns, owner, file_id)) == 0 then
    return 0
  end
  drop_file(ns, owner, file_id)
  return 1
end
return {redis.call('ZCARD', ns .. ':uploads:files'),
  tonumber(redis.call('GET', ns .. ':uploads:file-bytes') or '0'),
  redis.call('ZCARD', ns .. ':uploads:sessions')}
