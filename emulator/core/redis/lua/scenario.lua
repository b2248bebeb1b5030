-- Scenarios (a prelude: the scenario scripts begin with it). Keys, under the namespace ns:
--   <ns>:scenarios            LIST of scenario ids, in matching order
--   <ns>:scenarios:next       the last id number given (ids s1, s2, ... for every worker)
--   <ns>:scenario:<id>        HASH name, provider, route, model, owner ('' matches any), used
--   <ns>:scenario:<id>:steps  LIST of runs "<left> <needs_job 0|1> <step JSON>", first first:
--                             a step repeated 1,000,000 times is one run, never expanded.
-- <ns>:epoch's `scenarios` is kept at the number of scenarios (each has steps left: one whose
-- last step is played is removed), so a request learns whether any is pending from the epoch.

local function scenario_key(ns, id)
  return ns .. ':scenario:' .. id
end

local function steps_key(ns, id)
  return ns .. ':scenario:' .. id .. ':steps'
end

local function count_scenarios(ns)
  local count = redis.call('LLEN', ns .. ':scenarios')
  redis.call('HSET', ns .. ':epoch', 'scenarios', count)
  return count
end

local function drop_scenario(ns, id)
  redis.call('UNLINK', scenario_key(ns, id), steps_key(ns, id))
  redis.call('LREM', ns .. ':scenarios', 1, id)
end

local function parse_run(run)
  local left, needs_job, step = string.match(run, '^(%d+) ([01]) (.*)$')
  return tonumber(left), needs_job == '1', step
end
