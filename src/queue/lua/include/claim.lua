--[[ claim_due(ready, owners, max, lease, worker, now): the body of claim-n for one ready shard —
lease up to `max` conversations whose ready time has come (score := lease, the token settle-2
compares) and record the claiming worker in the shard's owners hash ('' = not recorded).
Returns a flat list: conversation, ms it waited, …

after_claim(ready, drained, now, idle, soonest): called once a round is done with a shard (after any
hand-back of what it claimed). With `idle` > 0 (ms; a worker asks for it once it has claimed nothing
for a few rounds, so a busy worker's rounds cost nothing more) and the shard `drained` (fewer than
asked for were due: nothing more to give), it sets the shard's idle flag for that long, and the
next script that makes work claimable here publishes a wake-up (wake_idle) to the workers, which
wait for it instead of polling; it returns the ms until the shard's earliest entry is due (a
lease's expiry, a delayed hand-back; -1: the shard is empty). Otherwise that is 0: poll again.
Returns the sooner of that and `soonest` (the round's earlier shards'; -1: none yet).
Included, never run alone.
]]
local function claim_due(ready, owners, max, lease, worker, now)
  local out = {}
  if max <= 0 then return out end
  local due = redis.call('ZRANGEBYSCORE', ready, '-inf', now, 'WITHSCORES', 'LIMIT', 0, max)
  for i = 1, #due, 2 do
    redis.call('ZADD', ready, lease, due[i])
    if worker ~= '' then redis.call('HSET', owners, due[i], worker) end
    out[#out + 1] = due[i]
    out[#out + 1] = now - tonumber(due[i + 1])
  end
  return out
end

local function after_claim(ready, drained, now, idle, soonest)
  local due = 0
  if drained and idle > 0 then
    redis.call('SET', ready .. ':idle', '1', 'PX', idle)
    local first = redis.call('ZRANGE', ready, 0, 0, 'WITHSCORES')
    due = #first == 0 and -1 or math.max(0, math.ceil(tonumber(first[2]) - now))
  end
  if soonest < 0 or (due >= 0 and due < soonest) then return due end
  return soonest
end
