--[[ enqueue-6: add a batch of one conversation's webhook events, deduped by event id.
KEYS[1] q        zset: "<seq, 16 digits>|<event id>" scored by the platform timestamp (ms)
KEYS[2] ev       hash: queue member -> event payload (JSON)
KEYS[3] seen     zset: event id -> ms first seen (dedupe markers, trimmed after ARGV[2])
KEYS[4] sent     hash: reply bookkeeping (c:<id> confirmed count, p:<id> pending, e:<id>:<i> echo seen, k:<key> keyed count)
KEYS[5] seq      counter giving arrival order for equal timestamps
KEYS[6] overflow list: payloads parked because the queue was at its cap
ARGV[1] now (ms)   ARGV[2] dedupe ttl (ms)   ARGV[3] cap on queued events (0 = none)
ARGV[4..] groups of 5: event id, platform timestamp ms, payload, echo field to set ('' = none; '-k:<key>' = decrement), '1' queue / '0' record only
Returns: one code per event (1 queued, 2 duplicate, 3 overflow, 4 recorded only), then the queue length
]]
local now, ttl, cap = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now - ttl)
local depth = redis.call('ZCARD', KEYS[1])
local out = {}
for i = 4, #ARGV, 5 do
  local id = ARGV[i]
  if redis.call('ZADD', KEYS[3], 'NX', now, id) == 0 then
    out[#out + 1] = 2
  else
    if ARGV[i + 3] ~= '' then
      local f = ARGV[i + 3]
      if string.sub(f, 1, 1) == '-' then
        -- '-k:<key>': an echo of content a channel confirms by key (reply-2): one fewer owed
        f = string.sub(f, 2)
        if redis.call('HINCRBY', KEYS[4], f, -1) == 0 then redis.call('HDEL', KEYS[4], f) end
      else
        redis.call('HSET', KEYS[4], f, now)
      end
      redis.call('PEXPIRE', KEYS[4], ttl)
    end
    if ARGV[i + 4] ~= '1' then
      out[#out + 1] = 4
    elseif cap > 0 and depth >= cap then
      redis.call('RPUSH', KEYS[6], ARGV[i + 2])
      out[#out + 1] = 3
    else
      local member = string.format('%016d', redis.call('INCR', KEYS[5])) .. '|' .. id
      redis.call('ZADD', KEYS[1], tonumber(ARGV[i + 1]), member)
      redis.call('HSET', KEYS[2], member, ARGV[i + 2])
      depth = depth + 1
      out[#out + 1] = 1
    end
  end
end
redis.call('PEXPIRE', KEYS[3], ttl)
redis.call('PEXPIRE', KEYS[5], ttl)
out[#out + 1] = depth
return out
