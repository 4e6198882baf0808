--[[ settle-2: hand a claimed conversation back to its ready shard.
KEYS[1] ready shard   KEYS[2] its owners hash (conversation id -> worker that leased it)
ARGV[1] conversation id   ARGV[2] lease token from claim-n
ARGV[3] 'remove' (its queue was seen empty) or 'requeue'   ARGV[4] delay ms before it may be claimed again
ARGV[5] the settling worker's id ('' = none recorded): its owners entry is dropped (the claim is over)
Score = token: ours, untouched. Score = token - 0.5: ours, and mark-1 flagged new work meanwhile,
so it is kept and made ready now (never removed). Any other score: another worker leased it
after our lease ran out (or the reaper handed it over), and the entry is theirs. Absent:
(requeue only) added back.
Returns: 1 settled as asked, 0 not (kept for new work, or left to its new holder)
]]
if ARGV[5] ~= '' and redis.call('HGET', KEYS[2], ARGV[1]) == ARGV[5] then redis.call('HDEL', KEYS[2], ARGV[1]) end
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
local s = score and tonumber(score)
local token = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if s == token - 0.5 then
  local delay = ARGV[3] == 'requeue' and tonumber(ARGV[4]) or 0
  redis.call('ZADD', KEYS[1], now + delay, ARGV[1])
  return ARGV[3] == 'requeue' and 1 or 0
end
if ARGV[3] == 'remove' then
  if s == token then
    redis.call('ZREM', KEYS[1], ARGV[1])
    return 1
  end
  return 0
end
if s == token or not score then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[4]), ARGV[1])
  return 1
end
return 0
