-- The config in force changes (PUT /_emulator/config): ARGV ns, the config as JSON.
-- Every worker reloads it on its next request (the epoch's config version). Returns it.
redis.call('HSET', ARGV[1] .. ':config', 'current', ARGV[2])
return redis.call('HINCRBY', ARGV[1] .. ':epoch', 'config', 1)
