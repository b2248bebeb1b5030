-- Append a chunk at `offset`, which must be the bytes received so far. ARGV: ns, now, sid,
-- offset, chunk, max_bytes.
-- Returns {'ok', session}, {'missing'}, {'status', session}, {'offset', session},
-- {'declared', session, total} or {'bytes', session}.
local ns, now, sid = ARGV[1], ARGV[2], ARGV[3]
local session, key = open_session(ns, now, sid)
if session == nil then
  return {'missing'}
end
if redis.call('HGET', key, 'status') ~= 'active' then
  return {'status', session}
end
local received = redis.call('STRLEN', key .. ':data')
if tonumber(ARGV[4]) ~= received then
  return {'offset', session}
end
local total = received + string.len(ARGV[5])
local declared = tonumber(redis.call('HGET', key, 'declared'))
if declared ~= nil and total > declared then
  return {'declared', session, tostring(total)}
end
local more = total - math.max(received, declared or 0)
if more > 0 and held_bytes(ns) + more > tonumber(ARGV[6]) then
  return {'bytes', session}
end
redis.call('APPEND', key .. ':data', ARGV[5])
local ttl = redis.call('PTTL', key)
if ttl > 0 then
  redis.call('PEXPIRE', key .. ':data', ttl)
end
if more > 0 then
  redis.call('HINCRBY', ns .. ':uploads:held', 's:' .. sid, more)
  redis.call('INCRBY', ns .. ':uploads:reserved', more)
end
return {'ok', session_reply(ns, sid)}
