--[[ mark_ready(ready, conversation, now): the body of mark-1 for one conversation (see mark-1's
header for the rules), shared with the script that queues a webhook POST and marks its
conversations in the same call; wakes idle workers (wake_idle). Included, never run alone.
Returns 1 if it was added.
]]
local function mark_ready(ready, conversation, now)
  local score = redis.call('ZSCORE', ready, conversation)
  local s = score and tonumber(score)
  if s and s > now then
    if s == math.floor(s) then redis.call('ZADD', ready, s - 0.5, conversation) end
    return 0
  end
  local added = redis.call('ZADD', ready, 'LT', now, conversation)
  wake_idle(ready)
  return added
end
