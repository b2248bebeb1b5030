-- Cancel an upload session. ARGV: ns, now, sid.
-- Returns {'ok', session}, {'missing'} or {'final', session}.
local ns, now, sid = ARGV[1], ARGV[2], ARGV[3]
local session, key = open_session(ns, now, sid)
if session == nil then
  return {'missing'}
end
local owner, file_id, status = unpack(redis.call('HMGET', key, 'owner', 'file_id', 'status'))
if status == 'final' then
  return {'final', session}
end
release(ns, 's:' .. sid, 'reserved')
local claim = claim_key(ns, owner, file_id)
if redis.call('GET', claim) == sid then
  redis.call('DEL', claim)
end
redis.call('HSET', key, 'status', 'cancelled')
redis.call('DEL', key .. ':data')
return {'ok', session_reply(ns, sid)}
