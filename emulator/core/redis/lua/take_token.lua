-- Take a token from a bucket: ARGV ns, bucket id, requests, per_seconds, now, and the key's
-- life in ms ('' for: until it would be full again).
-- Returns the tokens left (as text) and 1 when one was taken, 0 when the bucket was empty.
-- ratelimit:<bucket> {tokens, updated_at}: the memory limiter's bucket
-- (emulator/core/rate_limits.py), expiring once it would be full again.
local key = ARGV[1] .. ':ratelimit:' .. ARGV[2]
local capacity, per_seconds, now = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local refill = capacity / per_seconds
local state = redis.call('HMGET', key, 'tokens', 'updated_at')
local tokens, updated_at = tonumber(state[1]), tonumber(state[2])
if tokens == nil then
  tokens, updated_at = capacity, now
end
local elapsed = math.max(0, now - updated_at)
tokens = math.min(capacity, tokens + elapsed * refill)
local taken = 0
if tokens >= 1 then
  tokens = tokens - 1
  taken = 1
end
redis.call('HSET', key, 'tokens', string.format('%.17g', tokens), 'updated_at', string.format('%.17g', now))
-- On the real clock the bucket is full again after (capacity - tokens) / refill seconds of
-- wall time at most (advancing only shortens it), so the key may go then. A virtual clock
-- stands still: the caller gives a fixed life instead.
local life = tonumber(ARGV[6]) or (math.ceil((capacity - tokens) / refill * 1000) + 1000)
redis.call('PEXPIRE', key, math.max(1000, life))
return {string.format('%.17g', tokens), taken}
