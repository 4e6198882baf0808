--[[ settle-1: hand a claimed conversation back to its ready shard.
KEYS[1] ready shard
ARGV[1] conversation id   ARGV[2] lease token from claim-1
ARGV[3] 'remove' (its queue was seen empty) or 'requeue'   ARGV[4] delay ms before it may be claimed again
Acts only while the score is still our lease token: a changed score means the gateway marked
new work or another worker leased it, and then the entry is theirs.
Returns: 1 settled as asked, 0 left alone
]]
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
local ours = score and tonumber(score) == tonumber(ARGV[2])
if ARGV[3] == 'remove' then
  if ours then
    redis.call('ZREM', KEYS[1], ARGV[1])
    return 1
  end
  return 0
end
if ours or not score then
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[4]), ARGV[1])
  return 1
end
return 0
