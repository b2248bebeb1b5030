-- Give back a token taken by take_token (the request was refused by a fault before it was
-- counted): ARGV ns, bucket id, requests. Taken and given back at one instant, the bucket is
-- as if never touched.
local key = ARGV[1] .. ':ratelimit:' .. ARGV[2]
local tokens = tonumber(redis.call('HGET', key, 'tokens'))
if tokens ~= nil then
  redis.call('HSET', key, 'tokens', string.format('%.17g', math.min(tonumber(ARGV[3]), tokens + 1)))
end
return 1
