-- The job that holds an asset: ARGV ns, asset id. Returns the job's data, or nil.
local job = redis.call('GET', ARGV[1] .. ':asset:' .. ARGV[2])
if not job then
  return nil
end
return redis.call('HGET', ARGV[1] .. ':job:' .. job, 'data')
