-- Append a batch of journal entries. Key layout: <ns>:journal, a stream capped at `size`
-- (exact MAXLEN) whose entry id is "<seq>-0"; <ns>:journal:seq, the last seq given (shared by
-- every worker, so seq is global and the stream's order is seq order).
-- ARGV: ns, size, then per entry: its field count k, then k values (field, value, ...).
-- Returns the last seq given.
local ns, size = ARGV[1], ARGV[2]
local stream = ns .. ':journal'
local entries, i = {}, 3
while i <= #ARGV do
  local k = tonumber(ARGV[i])
  table.insert(entries, {i + 1, i + k})
  i = i + k + 1
end
local last = redis.call('INCRBY', ns .. ':journal:seq', #entries)
local seq = last - #entries
for _, span in ipairs(entries) do
  seq = seq + 1
  redis.call('XADD', stream, 'MAXLEN', size, string.format('%d-0', seq),
    unpack(ARGV, span[1], span[2]))
end
return last
