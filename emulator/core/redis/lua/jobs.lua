-- Jobs (a prelude). job:<id> {data: the job as JSON, assets: its asset ids, space-separated},
-- expiring with the job; asset:<id> -> its job's id, expiring likewise; jobs: ids by
-- creation order (max_jobs); jobs:finish: ids by finish time on the emulator's clock
-- (retention); jobs:assets {id: asset ids}, so a job whose keys expired is still dropped
-- whole; asset-count: assets held.

local function drop_job(ns, id)
  local assets = redis.call('HGET', ns .. ':jobs:assets', id)
  if assets then
    local count = 0
    for asset in string.gmatch(assets, '%S+') do
      redis.call('DEL', ns .. ':asset:' .. asset)
      count = count + 1
    end
    redis.call('DECRBY', ns .. ':asset-count', count)
    redis.call('HDEL', ns .. ':jobs:assets', id)
  end
  redis.call('DEL', ns .. ':job:' .. id)
  redis.call('ZREM', ns .. ':jobs', id)
  redis.call('ZREM', ns .. ':jobs:finish', id)
end

-- Drop jobs that finished at or before `finished_by` (a batch at a time: the rest go on the
-- next call), then the oldest while more than max_jobs are held.
local function evict(ns, finished_by, max_jobs)
  local done = redis.call('ZRANGEBYSCORE', ns .. ':jobs:finish', '-inf', finished_by, 'LIMIT', 0, 1000)
  for _, id in ipairs(done) do
    drop_job(ns, id)
  end
  local over = redis.call('ZCARD', ns .. ':jobs') - tonumber(max_jobs)
  if over > 0 then
    for _, id in ipairs(redis.call('ZRANGE', ns .. ':jobs', 0, over - 1)) do
      drop_job(ns, id)
    end
  end
end
