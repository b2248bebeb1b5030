-- A worker starts with its config. config {startup, current}: the config the workers were
-- last started with, and the one in force (changed by PUT /_emulator/config). A start with a
-- new config (the file changed) puts it in force for every worker; a start with the same one
-- (a restart, one more worker) adopts the one in force.
-- ARGV: ns, the worker's config as JSON. Returns {the config in force, 1 if it was published}.
local key = ARGV[1] .. ':config'
if redis.call('HGET', key, 'startup') ~= ARGV[2] then
  redis.call('HSET', key, 'startup', ARGV[2], 'current', ARGV[2])
  redis.call('HINCRBY', ARGV[1] .. ':epoch', 'config', 1)
  return {ARGV[2], 1}
end
return {redis.call('HGET', key, 'current'), 0}
