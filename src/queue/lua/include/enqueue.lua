--[[ enqueue_events(k, now, ttl, cap, most, args, first, count): the body of enqueue-6, shared
with the script that queues a whole webhook POST (or several) in one call. Included, never run alone.
k: {q, ev, seen, sent, seq, overflow}: enqueue-6's KEYS[1..6]
now, ttl, cap, most: enqueue-6's ARGV[1..4]
args[first .. first + 5 * count - 1]: the events, 5 values each, as enqueue-6's ARGV[5..]
Returns enqueue-6's reply: one code per event, then the queue length, then the overflow length.
]]
local function enqueue_events(k, now, ttl, cap, most, args, first, count)
  redis.call('ZREMRANGEBYSCORE', k[3], '-inf', now - ttl)
  local depth = redis.call('ZCARD', k[1])
  local parked = redis.call('LLEN', k[6])
  local out = {}
  for i = first, first + 5 * (count - 1), 5 do
    local id, queue = args[i], args[i + 4] == '1'
    local wait = queue and (parked > 0 or (cap > 0 and depth >= cap))
    if wait and most > 0 and parked >= most then
      out[#out + 1] = redis.call('ZSCORE', k[3], id) and 2 or 5
    elseif redis.call('ZADD', k[3], 'NX', now, id) == 0 then
      out[#out + 1] = 2
    else
      if args[i + 3] ~= '' then
        local f = args[i + 3]
        if string.sub(f, 1, 1) == '-' then
          -- '-k:<key>': an echo of content a channel confirms by key (reply-2): one fewer owed
          f = string.sub(f, 2)
          if redis.call('HINCRBY', k[4], f, -1) == 0 then redis.call('HDEL', k[4], f) end
        else
          redis.call('HSET', k[4], f, now)
        end
        redis.call('PEXPIRE', k[4], ttl)
      end
      if not queue then
        out[#out + 1] = 4
      elseif wait then
        redis.call('RPUSH', k[6], args[i + 1] .. '|' .. #id .. '|' .. id .. args[i + 2])
        parked = parked + 1
        out[#out + 1] = 3
      else
        local member = string.format('%016d', redis.call('INCR', k[5])) .. '|' .. id
        redis.call('ZADD', k[1], tonumber(args[i + 1]), member)
        redis.call('HSET', k[2], member, args[i + 2])
        depth = depth + 1
        out[#out + 1] = 1
      end
    end
  end
  redis.call('PEXPIRE', k[3], ttl)
  redis.call('PEXPIRE', k[5], ttl)
  out[#out + 1] = depth
  out[#out + 1] = parked
  return out
end
