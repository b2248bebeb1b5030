-- ARGV: ns, provider, owner, default cents, now, and a new balance ('' to read only).
local base = settle(ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5])
if ARGV[6] ~= '' then
  local wallet = wallet_keys(ARGV[1], ARGV[2], ARGV[3])
  redis.call('HSET', wallet, 'base', ARGV[6])
  return ARGV[6]
end
return cents(base)
