-- A charge on its own. ARGV: ns, provider, owner, cents, default cents, now, refund_at, token.
-- Returns {1, balance} or {-1, balance}.
local ok, left = charge(ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8])
return {ok and 1 or -1, cents(left)}
