-- Evict as put_job does, then {jobs held, assets held}. ARGV: ns, finished_by, max_jobs.
evict(ARGV[1], ARGV[2], ARGV[3])
return {redis.call('ZCARD', ARGV[1] .. ':jobs'), tonumber(redis.call('GET', ARGV[1] .. ':asset-count') or '0')}
