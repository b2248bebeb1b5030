-- Make the session's bytes a file. ARGV: ns, now, sid, length (the bytes the caller hashed),
-- sha256, expires_at, ttl_ms, index_ttl_ms.
-- Returns {'ok', session, seq}, {'same', session, file} for a finalized session,
-- {'missing'}, {'gone', session}, {'status', session}, {'changed'} (more bytes came since the
-- caller read them: read again), {'declared', session} or {'conflict', session}.
local ns, now, sid = ARGV[1], ARGV[2], ARGV[3]
local session, key = open_session(ns, now, sid)
if session == nil then
  return {'missing'}
end
local owner, file_id, status, declared = unpack(
  redis.call('HMGET', key, 'owner', 'file_id', 'status', 'declared'))
local file = file_key(ns, owner, file_id)
if status == 'final' then
  local found = redis.call('HGETALL', file)
  if #found == 0 then
    return {'gone', session}
  end
  return {'same', session, found}
end
if status ~= 'active' then
  return {'status', session}
end
local received = redis.call('STRLEN', key .. ':data')
if received ~= tonumber(ARGV[4]) then
  return {'changed'}
end
if declared ~= '' and received ~= tonumber(declared) then
  return {'declared', session}
end
if redis.call('EXISTS', file) == 1 then
  return {'conflict', session}
end
local seq = redis.call('INCR', ns .. ':uploads:seq')
local data = redis.call('GET', key .. ':data') or ''
redis.call('HSET', file, 'mime_type', redis.call('HGET', key, 'mime_type'), 'data', data,
  'sha256', ARGV[5], 'created_at', now, 'expires_at', ARGV[6], 'seq', seq)
local name = redis.call('HGET', key, 'display_name')
if name then
  redis.call('HSET', file, 'display_name', name)
end
redis.call('PEXPIRE', file, ARGV[7])
local member = owner .. ':' .. file_id
redis.call('ZADD', ns .. ':uploads:files', ARGV[6], member)
redis.call('ZADD', ns .. ':files:' .. owner, seq, file_id)
redis.call('HSET', ns .. ':uploads:held', 'f:' .. member, received)
redis.call('INCRBY', ns .. ':uploads:file-bytes', received)
-- The bytes move to the file (held once); the session stays, final, until it expires.
release(ns, 's:' .. sid, 'reserved')
redis.call('HSET', key, 'status', 'final')
redis.call('DEL', key .. ':data', claim_key(ns, owner, file_id))
keep_indexes(ns, owner, ARGV[8])
return {'ok', session_reply(ns, sid), seq}
