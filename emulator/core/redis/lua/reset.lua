-- Back to a just-started state: every key of the namespace goes but the epoch and the config;
-- the epoch's offset and scenario count go to 0 and its reset generation moves on.
-- ARGV: ns. Returns the new generation.
local ns = ARGV[1]
local keep = {[ns .. ':epoch'] = true, [ns .. ':config'] = true}
local cursor = '0'
repeat
  local found = redis.call('SCAN', cursor, 'MATCH', ns .. ':*', 'COUNT', 1000)
  cursor = found[1]
  for _, key in ipairs(found[2]) do
    if not keep[key] then
      redis.call('UNLINK', key)
    end
  end
until cursor == '0'
redis.call('HSET', ns .. ':epoch', 'offset', '0', 'scenarios', '0')
return redis.call('HINCRBY', ns .. ':epoch', 'resets', 1)
