-- Start an upload session. ARGV: ns, now, sid, owner, file_id, display_name ('' and
-- has_name '0': none), has_name, mime_type, declared ('': unknown), expires_at, ttl_ms,
-- max_entries, max_bytes, index_ttl_ms.
-- Returns {'ok', session...}, {'conflict'}, {'entries'} or {'bytes'}.
local ns, now, sid, owner, file_id = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
upkeep(ns, now)
local claim = claim_key(ns, owner, file_id)
if redis.call('EXISTS', file_key(ns, owner, file_id)) == 1
    or redis.call('EXISTS', claim) == 1 then
  return {'conflict'}
end
local entries = redis.call('ZCARD', ns .. ':uploads:sessions')
  + redis.call('ZCARD', ns .. ':uploads:files')
if entries >= tonumber(ARGV[12]) then
  return {'entries'}
end
local declared = tonumber(ARGV[9]) or 0
if declared > 0 and held_bytes(ns) + declared > tonumber(ARGV[13]) then
  return {'bytes'}
end
local key, ttl = upload_key(ns, sid), ARGV[11]
redis.call('HSET', key, 'owner', owner, 'file_id', file_id, 'mime_type', ARGV[8],
  'declared', ARGV[9], 'started_at', now, 'expires_at', ARGV[10], 'status', 'active')
if ARGV[7] == '1' then
  redis.call('HSET', key, 'display_name', ARGV[6])
end
redis.call('PEXPIRE', key, ttl)
redis.call('SET', claim, sid, 'PX', ttl)
redis.call('ZADD', ns .. ':uploads:sessions', ARGV[10], sid)
redis.call('HSET', ns .. ':uploads:held', 's:' .. sid, declared)
redis.call('INCRBY', ns .. ':uploads:reserved', declared)
keep_indexes(ns, owner, ARGV[14])
return {'ok', session_reply(ns, sid)}
