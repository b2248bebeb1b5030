-- The step a request plays: the first step of the first matching scenario, consumed once for
-- every worker; a step that needs a job waits for a request that starts one. ARGV: ns,
-- provider, route, model, owner ('' for none), starts_job (1 or 0).
-- Returns nil, or {step JSON, 1 when the scenario was used up (and the epoch changed) else 0}.
local ns, provider, route, model, owner = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local starts_job = ARGV[6] == '1'
local wanted = {provider, route, model, owner}
for _, id in ipairs(redis.call('LRANGE', ns .. ':scenarios', 0, -1)) do
  local match = redis.call('HMGET', scenario_key(ns, id), 'provider', 'route', 'model', 'owner')
  local matches = true
  for i = 1, 4 do
    if match[i] and match[i] ~= '' and match[i] ~= wanted[i] then
      matches = false
      break
    end
  end
  if matches then
    local steps = steps_key(ns, id)
    local run = redis.call('LINDEX', steps, 0)
    if run then
      local left, needs_job, step = parse_run(run)
      if starts_job or not needs_job then
        if left > 1 then
          redis.call('LSET', steps, 0, (left - 1) .. (needs_job and ' 1 ' or ' 0 ') .. step)
        else
          redis.call('LPOP', steps)
        end
        redis.call('HINCRBY', scenario_key(ns, id), 'used', 1)
        if redis.call('LLEN', steps) == 0 then
          drop_scenario(ns, id)
          count_scenarios(ns)
          return {step, 1}
        end
        return {step, 0}
      end
    end
  end
end
return nil
