-- Uploaded files and upload sessions (a prelude: every uploads script begins with it).
-- Key layout, under the namespace ns:
--   upload:<sid>          hash {owner, file_id, display_name (absent: none), mime_type,
--                         declared ('': unknown), started_at, expires_at, status}
--   upload:<sid>:data     string: the bytes received so far (absent: none yet)
--   upload-claim:<owner>:<file_id>  the sid of the active session that will make that file
--   file:<owner>:<file_id> hash {display_name?, mime_type, data, sha256, created_at,
--                         expires_at, seq}
--   files:<owner>         sorted set: file_id scored by seq (creation order, for paging)
--   uploads:sessions, uploads:files  sorted sets: sid / "<owner>:<file_id>" scored by expires_at
--                         on the emulator's clock (their sizes are the entry counts)
--   uploads:held          hash: "s:<sid>" / "f:<owner>:<file_id>" -> bytes it holds
--   uploads:reserved, uploads:file-bytes  the bytes active sessions hold, and files
--   uploads:seq           the last file seq given
-- Every key also has a wall-time TTL: an upper bound on memory, the emulator's clock rules.

local function upload_key(ns, sid) return ns .. ':upload:' .. sid end
local function claim_key(ns, owner, file_id)
  return ns .. ':upload-claim:' .. owner .. ':' .. file_id
end
local function file_key(ns, owner, file_id) return ns .. ':file:' .. owner .. ':' .. file_id end

-- Forget what `member` of uploads:sessions / uploads:files holds against the bounds.
local function release(ns, held_member, counter)
  local held = redis.call('HGET', ns .. ':uploads:held', held_member)
  if held then
    redis.call('DECRBY', ns .. ':uploads:' .. counter, held)
    redis.call('HDEL', ns .. ':uploads:held', held_member)
  end
end

local function drop_session(ns, sid)
  local key = upload_key(ns, sid)
  local owner, file_id = unpack(redis.call('HMGET', key, 'owner', 'file_id'))
  if owner then
    local claim = claim_key(ns, owner, file_id)
    if redis.call('GET', claim) == sid then
      redis.call('DEL', claim)
    end
  end
  release(ns, 's:' .. sid, 'reserved')
  redis.call('ZREM', ns .. ':uploads:sessions', sid)
  redis.call('DEL', key, key .. ':data')
end

local function drop_file(ns, owner, file_id)
  local member = owner .. ':' .. file_id
  release(ns, 'f:' .. member, 'file-bytes')
  redis.call('ZREM', ns .. ':uploads:files', member)
  redis.call('ZREM', ns .. ':files:' .. owner, file_id)
  redis.call('DEL', file_key(ns, owner, file_id))
end

-- Drop every session and file whose life on the emulator's clock ended by `now`.
local function upkeep(ns, now)
  for _, sid in ipairs(redis.call('ZRANGEBYSCORE', ns .. ':uploads:sessions', '-inf', now)) do
    drop_session(ns, sid)
  end
  for _, member in ipairs(redis.call('ZRANGEBYSCORE', ns .. ':uploads:files', '-inf', now)) do
    local owner, file_id = string.match(member, '^(.*):([^:]*)$')
    drop_file(ns, owner, file_id)
  end
end

local function held_bytes(ns)
  return tonumber(redis.call('GET', ns .. ':uploads:reserved') or '0')
    + tonumber(redis.call('GET', ns .. ':uploads:file-bytes') or '0')
end

-- The index keys live as long as the longest life asked for (wall time, refreshed on writes).
local function keep_indexes(ns, owner, ttl_ms)
  for _, name in ipairs({'uploads:sessions', 'uploads:files', 'uploads:held',
      'uploads:reserved', 'uploads:file-bytes', 'uploads:seq', 'files:' .. owner}) do
    redis.call('PEXPIRE', ns .. ':' .. name, ttl_ms)
  end
end

-- The session as {field, value, ..., 'received', n}; nil when there is none.
local function session_reply(ns, sid)
  local key = upload_key(ns, sid)
  local fields = redis.call('HGETALL', key)
  if #fields == 0 then
    return nil
  end
  table.insert(fields, 'received')
  table.insert(fields, tostring(redis.call('STRLEN', key .. ':data')))
  return fields
end

-- What every step on a session starts with: drop what has expired, then the session's reply
-- (nil when there is no such session) and its key.
local function open_session(ns, now, sid)
  upkeep(ns, now)
  return session_reply(ns, sid), upload_key(ns, sid)
end
