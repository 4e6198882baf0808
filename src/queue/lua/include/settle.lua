--[[ settle_claim(ready, owners, conversation, token, mode, delay, owner, now): the body of
settle-2 (hand a claimed conversation back to its ready shard), shared with the scripts that
settle in the call that finds a queue empty. Included, never run alone. Arguments are
settle-2's KEYS[1..2] and ARGV[1..5], then Redis ms. What it makes claimable again wakes idle
workers (wake_idle). Returns settle-2's reply.
]]
local function settle_claim(ready, owners, conversation, token, mode, delay, owner, now)
  if owner ~= '' and redis.call('HGET', owners, conversation) == owner then redis.call('HDEL', owners, conversation) end
  local score = redis.call('ZSCORE', ready, conversation)
  local s = score and tonumber(score)
  token = tonumber(token)
  if s == token - 0.5 then
    redis.call('ZADD', ready, now + (mode == 'requeue' and tonumber(delay) or 0), conversation)
    wake_idle(ready)
    return mode == 'requeue' and 1 or 0
  end
  if mode == 'remove' then
    if s == token then
      redis.call('ZREM', ready, conversation)
      return 1
    end
    return 0
  end
  if s == token or not score then
    redis.call('ZADD', ready, now + tonumber(delay), conversation)
    wake_idle(ready)
    return 1
  end
  return 0
end
