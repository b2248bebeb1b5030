-- Remove scenarios. ARGV: ns, what: 'id' (ARGV[3] is the id), 'wide' (those matching a whole
-- provider: a provider and nothing else) or 'all' (every one, and ids start over at s1).
-- Returns how many were removed.
local ns, what = ARGV[1], ARGV[2]
local removed = 0
for _, id in ipairs(redis.call('LRANGE', ns .. ':scenarios', 0, -1)) do
  local drop = false
  if what == 'all' then
    drop = true
  elseif what == 'id' then
    drop = id == ARGV[3]
  else
    local m = redis.call('HMGET', scenario_key(ns, id), 'provider', 'route', 'model', 'owner')
    drop = (m[1] or '') ~= '' and (m[2] or '') == '' and (m[3] or '') == '' and (m[4] or '') == ''
  end
  if drop then
    drop_scenario(ns, id)
    removed = removed + 1
  end
end
if what == 'all' then
  redis.call('UNLINK', ns .. ':scenarios', ns .. ':scenarios:next')
end
count_scenarios(ns)
return removed
