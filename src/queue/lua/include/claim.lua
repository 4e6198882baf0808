--[[ claim_due(ready, owners, max, lease, worker, now): the body of claim-n for one ready shard —
lease up to `max` conversations whose ready time has come (score := lease, the token settle-2
compares) and record the claiming worker in the shard's owners hash ('' = not recorded).
Included, never run alone. Returns a flat list: conversation, ms it waited, …
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
