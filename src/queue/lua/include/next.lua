--[[ next_event(k, a, now): the body of next-6 (acknowledge, move overflow into the queue, peek),
shared by every script that acknowledges or peeks a conversation. Included, never run alone.
k: {q, ev, sent, lock, seq, overflow}: next-6's KEYS[1..6]
a: {lock value, member to ack ('' = none), its event id, replies sent, ttl ms, acquire ms, '1' release if empty, cap}: next-6's ARGV[1..8]
now: Redis ms. Returns next-6's reply.
]]
local function next_event(k, a, now)
  if tonumber(a[6]) > 0 and not redis.call('SET', k[4], a[1], 'NX', 'PX', a[6]) then return {3} end
  local owner = redis.call('GET', k[4]) == a[1]
  if a[2] ~= '' then
    local id, sent = a[3], tonumber(a[4])
    if not owner then
      if sent > 0 then
        redis.call('HSET', k[3], 'c:' .. id, sent)
        redis.call('PEXPIRE', k[3], a[5])
      end
      return {2}
    end
    redis.call('ZREM', k[1], a[2])
    redis.call('HDEL', k[2], a[2])
    local fields = {'c:' .. id, 'p:' .. id}
    for i = 0, sent - 1 do fields[#fields + 1] = 'e:' .. id .. ':' .. i end
    redis.call('HDEL', k[3], unpack(fields))
  elseif not owner then
    return {2}
  end

  -- Waiting events move into the queue in their order, with the member and score enqueue-6
  -- would have given them. At most 100 a call keeps the script short after the cap was raised
  -- (or with no cap); whatever the cap, a non-empty overflow list leaves the queue non-empty,
  -- so the caller never hands back a conversation that still has work.
  local cap = tonumber(a[8])
  local room = 0
  if redis.call('LLEN', k[6]) > 0 then
    room = 100
    if cap > 0 then room = math.min(room, cap - redis.call('ZCARD', k[1])) end
  end
  while room > 0 do
    local e = redis.call('LPOP', k[6])
    if not e then break end
    local ts, id, payload
    if string.sub(e, 1, 1) == '{' then
      -- Parked by a version that kept the bare payload (and never read it back).
      local ok, ev = pcall(cjson.decode, e)
      if ok and type(ev) == 'table' and ev.id ~= nil then id, ts, payload = tostring(ev.id), tonumber(ev.timestamp) or now, e end
    else
      local x = string.find(e, '|', 1, true)
      local y = x and string.find(e, '|', x + 1, true)
      if y then
        local n = tonumber(string.sub(e, x + 1, y - 1))
        ts, id, payload = tonumber(string.sub(e, 1, x - 1)), string.sub(e, y + 1, y + n), string.sub(e, y + n + 1)
      end
    end
    if id and ts then
      local member = string.format('%016d', redis.call('INCR', k[5])) .. '|' .. id
      redis.call('ZADD', k[1], ts, member)
      redis.call('HSET', k[2], member, payload)
      redis.call('PEXPIRE', k[5], a[5])
      room = room - 1
    else
      -- Only a hand-edited entry cannot be read (enqueue-6 writes every one with an id):
      -- like a queue entry without payload below, it is dropped, and the server log says so.
      redis.log(redis.LOG_WARNING, 'next-6: unreadable overflow entry dropped from ' .. k[6] .. ': ' .. string.sub(e, 1, 200))
    end
  end

  while true do
    local head = redis.call('ZRANGE', k[1], 0, 0)
    if #head == 0 then
      if a[7] == '1' then redis.call('DEL', k[4]) end
      return {1}
    end
    local m = head[1]
    local payload = redis.call('HGET', k[2], m)
    if payload then
      local id = string.sub(m, 18)
      local confirmed = tonumber(redis.call('HGET', k[3], 'c:' .. id) or '0')
      local pending = redis.call('HGET', k[3], 'p:' .. id)
      local pidx, age, echoed = -1, 0, 0
      if pending then
        local sep = string.find(pending, ':', 1, true)
        pidx = tonumber(string.sub(pending, 1, sep - 1))
        local since, key = string.match(pending, '^%d+:(%d+):(.+)$')
        if key then
          -- A channel's own confirmation key (reply-2): echoed once more echoes than owed sends came.
          age = now - tonumber(since)
          echoed = tonumber(redis.call('HGET', k[3], 'k:' .. key) or '0') < 0 and 1 or 0
        else
          age = now - tonumber(string.sub(pending, sep + 1))
          echoed = redis.call('HEXISTS', k[3], 'e:' .. id .. ':' .. pidx)
        end
      else
        echoed = redis.call('HEXISTS', k[3], 'e:' .. id .. ':' .. confirmed)
      end
      return {0, m, payload, confirmed, pidx, age, echoed, redis.call('ZCARD', k[1]), redis.call('LLEN', k[6])}
    end
    -- An index entry without payload cannot be processed; enqueue-6 and this script write and
    -- remove both together, so this only heals a hand-edited key.
    redis.call('ZREM', k[1], m)
  end
end
