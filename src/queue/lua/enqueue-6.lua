--[[ enqueue-6: add a batch of one conversation's webhook events, deduped by event id.
KEYS[1] q        zset: "<seq, 16 digits>|<event id>" scored by the platform timestamp (ms)
KEYS[2] ev       hash: queue member -> event payload (JSON)
KEYS[3] seen     zset: event id -> ms first seen (dedupe markers, trimmed after ARGV[2])
KEYS[4] sent     hash: reply bookkeeping (c:<id> confirmed count, p:<id> pending, e:<id>:<i> echo seen, k:<key> keyed count)
KEYS[5] seq      counter giving arrival order for equal timestamps
KEYS[6] overflow list: events waiting for room in the queue, oldest first, each
                 "<platform timestamp ms>|<length of id>|<event id><payload>"; next-6 moves them
                 into the queue as it drains. While it holds any, new events go behind them.
ARGV[1] now (ms)   ARGV[2] dedupe ttl (ms)   ARGV[3] cap on queued events (0 = none)
ARGV[4] cap on waiting events (0 = none): beyond it an event is refused, not marked seen, so
        the platform's redelivery is taken once there is room
ARGV[5..] groups of 5: event id, platform timestamp ms, payload, echo field to set ('' = none; '-k:<key>' = decrement), '1' queue / '0' record only
Returns: one code per event (1 queued, 2 duplicate, 3 overflow, 4 recorded only, 5 refused),
         then the queue length, then the overflow length
]]
local now, ttl, cap, most = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now - ttl)
local depth = redis.call('ZCARD', KEYS[1])
local parked = redis.call('LLEN', KEYS[6])
local out = {}
for i = 5, #ARGV, 5 do
  local id, queue = ARGV[i], ARGV[i + 4] == '1'
  local wait = queue and (parked > 0 or (cap > 0 and depth >= cap))
  if wait and most > 0 and parked >= most then
    out[#out + 1] = redis.call('ZSCORE', KEYS[3], id) and 2 or 5
  elseif redis.call('ZADD', KEYS[3], 'NX', now, id) == 0 then
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
    if not queue then
      out[#out + 1] = 4
    elseif wait then
      redis.call('RPUSH', KEYS[6], ARGV[i + 1] .. '|' .. #id .. '|' .. id .. ARGV[i + 2])
      parked = parked + 1
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
out[#out + 1] = parked
return out
