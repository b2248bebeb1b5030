-- Add scenarios, all in one go (so all or none). ARGV: ns, then a JSON list of
-- {name, provider, route, model, owner ('' for any), runs: ["<left> <needs_job> <step>", ...]}.
-- A scenario with no name is named by its id. Returns the new ids, in order.
local ns = ARGV[1]
local entries = cjson.decode(ARGV[2])
local ids = {}
for index, entry in ipairs(entries) do
  local id = 's' .. redis.call('INCR', ns .. ':scenarios:next')
  local name = entry.name
  if name == '' then
    name = id
  end
  redis.call('HSET', scenario_key(ns, id), 'name', name, 'provider', entry.provider,
    'route', entry.route, 'model', entry.model, 'owner', entry.owner, 'used', 0)
  for first = 1, #entry.runs, 1000 do  -- in chunks: unpack has a stack limit
    redis.call('RPUSH', steps_key(ns, id), unpack(entry.runs, first, math.min(first + 999, #entry.runs)))
  end
  redis.call('RPUSH', ns .. ':scenarios', id)
  ids[index] = id
end
count_scenarios(ns)
return ids
