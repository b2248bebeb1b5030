-- Store a job and its files, and take its charge, all or nothing.
-- ARGV: ns, id, data, asset ids (space-separated), finishes_at, finished_by (now - retention),
-- max_jobs, ttl_ms, then the charge: provider ('' for none), owner, cents, default cents,
-- now, refund_at ('' for none).
-- Returns {1, balance}, {0} when the id is taken, {-1, balance} when the balance is short.
local ns, id, data, assets = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local key = ns .. ':job:' .. id
if redis.call('EXISTS', key) == 1 then
  return {0}
end
local balance = ''
if ARGV[9] ~= '' then
  local ok, left = charge(ns, ARGV[9], ARGV[10], ARGV[11], ARGV[12], ARGV[13], ARGV[14], id)
  if not ok then
    return {-1, cents(left)}
  end
  balance = cents(left)
end
local ttl = ARGV[8]
redis.call('HSET', key, 'data', data, 'assets', assets)
redis.call('PEXPIRE', key, ttl)
local count = 0
for asset in string.gmatch(assets, '%S+') do
  redis.call('SET', ns .. ':asset:' .. asset, id, 'PX', ttl)
  count = count + 1
end
redis.call('INCRBY', ns .. ':asset-count', count)
redis.call('HSET', ns .. ':jobs:assets', id, assets)
redis.call('ZADD', ns .. ':jobs', redis.call('INCR', ns .. ':jobs:seq'), id)
redis.call('ZADD', ns .. ':jobs:finish', ARGV[5], id)
evict(ns, ARGV[6], ARGV[7])
return {1, balance}
