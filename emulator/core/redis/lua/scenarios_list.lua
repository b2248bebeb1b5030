-- Every scenario, in order. ARGV: ns. Returns a list of
-- {id, name, provider, route, model, owner, used, {run, ...}} ('' for a match on any).
local ns = ARGV[1]
local out = {}
for index, id in ipairs(redis.call('LRANGE', ns .. ':scenarios', 0, -1)) do
  local fields = redis.call('HMGET', scenario_key(ns, id),
    'name', 'provider', 'route', 'model', 'owner', 'used')
  out[index] = {id, fields[1] or id, fields[2] or '', fields[3] or '', fields[4] or '',
    fields[5] or '', fields[6] or '0', redis.call('LRANGE', steps_key(ns, id), 0, -1)}
end
return out
