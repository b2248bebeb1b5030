-- Every wallet's balance now: ARGV ns, now. Returns {provider, owner, cents, ...}.
local out = {}
for _, member in ipairs(redis.call('SMEMBERS', ARGV[1] .. ':wallets')) do
  local provider, owner = string.match(member, '^(.-)\n(.*)$')
  table.insert(out, provider)
  table.insert(out, owner)
  table.insert(out, cents(settle(ARGV[1], provider, owner, '0', ARGV[2])))
end
return out
