--[[ ingest-n: ONE SERVER ONLY (its keys span slots). What a gateway writes for one or more
webhook POSTs: each conversation's events (enqueue-6), the POSTs' chatlog records (XADD), then
every conversation left with work marked ready (mark-1) — after its events, in the same call,
so no worker can find it marked and empty. enqueue-6, mark-1 and a chatlog pipeline per POST
become one call for every POST that arrived at about the same time.
KEYS: 7 per conversation entry: q, ev, seen, sent, seq, overflow (enqueue-6's), its ready shard;
      then the chatlog stream shards the records go to
ARGV[1] now (ms)   ARGV[2] dedupe ttl (ms)   ARGV[3] cap on queued events   ARGV[4] cap on waiting events (enqueue-6's ARGV[1..4])
ARGV[5] c = number of conversation entries (a conversation may come twice: its entries run in order)
then per entry: its conversation id, e = number of events, then 5 values per event (enqueue-6's ARGV[5..])
then per stream shard of KEYS: r = number of records, then the r records (JSON)
Returns: one enqueue-6 reply per entry, in order
]]
--@include clock
--@include wake
--@include enqueue
--@include mark
local now, ttl, cap, most = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local c = tonumber(ARGV[5])
local out, ids = {}, {}
local a = 6
for i = 1, c do
  local base = (i - 1) * 7
  local e = tonumber(ARGV[a + 1])
  ids[i] = ARGV[a]
  out[i] = enqueue_events({KEYS[base + 1], KEYS[base + 2], KEYS[base + 3], KEYS[base + 4], KEYS[base + 5], KEYS[base + 6]}, now, ttl, cap, most, ARGV, a + 2, e)
  a = a + 2 + 5 * e
end
for s = c * 7 + 1, #KEYS do
  local r = tonumber(ARGV[a])
  for j = 1, r do redis.call('XADD', KEYS[s], '*', 'r', ARGV[a + j]) end
  a = a + 1 + r
end
local clock = now_ms()
for i = 1, c do
  local reply = out[i]
  if reply[#reply - 1] + reply[#reply] > 0 then
    mark_ready(KEYS[(i - 1) * 7 + 7], ids[i], clock)
  end
end
return out
