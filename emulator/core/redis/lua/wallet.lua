-- Wallets (a prelude: scripts that charge begin with it). Amounts are whole cents.
-- wallet:<provider>:<owner> {base}: the balance before refunds still to come;
-- refunds:<provider>:<owner>: sorted set of "<token>:<cents>" scored by when they are due;
-- wallets: the set of "<provider>\n<owner>" opened, for the admin API's list.

local function wallet_keys(ns, provider, owner)
  local id = provider .. ':' .. owner
  return ns .. ':wallet:' .. id, ns .. ':refunds:' .. id
end

local function cents(value)
  return string.format('%.0f', value)
end

-- The balance now: opened with `default` on first use, refunds due by `now` added.
local function settle(ns, provider, owner, default, now)
  local wallet, refunds = wallet_keys(ns, provider, owner)
  if redis.call('HSETNX', wallet, 'base', default) == 1 then
    redis.call('SADD', ns .. ':wallets', provider .. '\n' .. owner)
  end
  local base = tonumber(redis.call('HGET', wallet, 'base'))
  local due = redis.call('ZRANGEBYSCORE', refunds, '-inf', now)
  if #due > 0 then
    for _, member in ipairs(due) do
      base = base + tonumber(string.match(member, ':(%-?%d+)$'))
    end
    redis.call('ZREMRANGEBYSCORE', refunds, '-inf', now)
    redis.call('HSET', wallet, 'base', cents(base))
  end
  return base
end

-- Take `amount` or nothing: (true, new balance) or (false, balance). With refund_at (not
-- ''), the amount comes back then.
local function charge(ns, provider, owner, amount, default, now, refund_at, token)
  local base = settle(ns, provider, owner, default, now)
  amount = tonumber(amount)
  if base < amount then
    return false, base
  end
  base = base - amount
  local wallet, refunds = wallet_keys(ns, provider, owner)
  redis.call('HSET', wallet, 'base', cents(base))
  if refund_at ~= '' then
    redis.call('ZADD', refunds, refund_at, token .. ':' .. cents(amount))
  end
  return true, base
end
