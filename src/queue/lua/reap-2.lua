--[[ reap-2: hand over the leases a dead worker held in one ready shard: claimable at once.
KEYS[1] ready shard   KEYS[2] its owners hash (conversation id -> worker that leased it)
ARGV[1] the dead worker's id   ARGV[2] the lease length (ms) claim-n gave
ARGV[3..] the conversations it leased here (read from KEYS[2] before its locks were broken)
Each gets back the score it had when it was claimed (lease - length): it has waited since
then, so it goes before conversations that became ready later, not behind a backlog.
A conversation leased by another worker meanwhile (its owner changed) is left alone. What is
handed over wakes idle workers (wake_idle).
Returns: the conversations handed over
]]
--@include clock
--@include wake
local now = now_ms()
local length = tonumber(ARGV[2])
local out = {}
for i = 3, #ARGV do
  local c = ARGV[i]
  if redis.call('HGET', KEYS[2], c) == ARGV[1] then
    redis.call('HDEL', KEYS[2], c)
    local s = redis.call('ZSCORE', KEYS[1], c)
    if s and tonumber(s) > now then
      redis.call('ZADD', KEYS[1], math.min(now, math.floor(tonumber(s) - length)), c)
      wake_idle(KEYS[1])
    end
    out[#out + 1] = c
  end
end
return out
