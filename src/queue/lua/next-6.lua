--[[ next-6: acknowledge the event just processed (fenced by the lock value), move waiting
events from the overflow list into the queue while it has room, then peek the next one.
KEYS[1] q   KEYS[2] ev   KEYS[3] sent   KEYS[4] lock (a redlock lock: a random value, with a TTL)
KEYS[5] seq   KEYS[6] overflow (both as enqueue-6 writes them)
ARGV[1] caller's lock value
ARGV[2] queue member to acknowledge ('' = none)   ARGV[3] its event id   ARGV[4] replies it sent
ARGV[5] ttl (ms) of the reply bookkeeping and of the seq counter (the dedupe ttl)
ARGV[6] lock ttl (ms) to acquire the lock first, as redlock's acquire does (SET NX PX); '0' = the caller holds it already
ARGV[7] '1': release the lock (fenced) when the queue is found empty, saving the caller a round trip
ARGV[8] cap on queued events (0 = none), as enqueue-6's
Returns: {3} busy: (acquire only) another worker holds the lock; nothing done
         {2} fenced: the caller no longer holds the lock; nothing removed (replies it sent are still recorded)
         {1} empty queue, and no event waiting in the overflow list (with ARGV[7] = '1': and the lock released)
         {0, member, payload, replies confirmed, pending reply index (-1 none), pending age ms, echo seen 0/1, queue length, overflow length}
         echo seen: for the pending reply, or with none pending for the next reply (its marks can be
         lost with a failed-over master while Facebook's echo of it arrived afterwards); for a pending
         reply marked with a confirmation key (reply-2), whether that key's echoes outnumber its sends
]]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if tonumber(ARGV[6]) > 0 and not redis.call('SET', KEYS[4], ARGV[1], 'NX', 'PX', ARGV[6]) then return {3} end
local owner = redis.call('GET', KEYS[4]) == ARGV[1]
if ARGV[2] ~= '' then
  local id, sent = ARGV[3], tonumber(ARGV[4])
  if not owner then
    if sent > 0 then
      redis.call('HSET', KEYS[3], 'c:' .. id, sent)
      redis.call('PEXPIRE', KEYS[3], ARGV[5])
    end
    return {2}
  end
  redis.call('ZREM', KEYS[1], ARGV[2])
  redis.call('HDEL', KEYS[2], ARGV[2])
  local fields = {'c:' .. id, 'p:' .. id}
  for i = 0, sent - 1 do fields[#fields + 1] = 'e:' .. id .. ':' .. i end
  redis.call('HDEL', KEYS[3], unpack(fields))
elseif not owner then
  return {2}
end

-- Waiting events move into the queue in their order, with the member and score enqueue-6
-- would have given them. At most 100 a call keeps the script short after the cap was raised
-- (or with no cap); whatever the cap, a non-empty overflow list leaves the queue non-empty,
-- so the caller never hands back a conversation that still has work.
local cap = tonumber(ARGV[8])
local room = 0
if redis.call('LLEN', KEYS[6]) > 0 then
  room = 100
  if cap > 0 then room = math.min(room, cap - redis.call('ZCARD', KEYS[1])) end
end
while room > 0 do
  local e = redis.call('LPOP', KEYS[6])
  if not e then break end
  local ts, id, payload
  if string.sub(e, 1, 1) == '{' then
    -- Parked by a version that kept the bare payload (and never read it back).
    local ok, ev = pcall(cjson.decode, e)
    if ok and type(ev) == 'table' and ev.id ~= nil then id, ts, payload = tostring(ev.id), tonumber(ev.timestamp) or now, e end
  else
    local a = string.find(e, '|', 1, true)
    local b = a and string.find(e, '|', a + 1, true)
    if b then
      local n = tonumber(string.sub(e, a + 1, b - 1))
      ts, id, payload = tonumber(string.sub(e, 1, a - 1)), string.sub(e, b + 1, b + n), string.sub(e, b + n + 1)
    end
  end
  if id and ts then
    local member = string.format('%016d', redis.call('INCR', KEYS[5])) .. '|' .. id
    redis.call('ZADD', KEYS[1], ts, member)
    redis.call('HSET', KEYS[2], member, payload)
    redis.call('PEXPIRE', KEYS[5], ARGV[5])
    room = room - 1
  else
    -- Only a hand-edited entry cannot be read (enqueue-6 writes every one with an id):
    -- like a queue entry without payload below, it is dropped, and the server log says so.
    redis.log(redis.LOG_WARNING, 'next-6: unreadable overflow entry dropped from ' .. KEYS[6] .. ': ' .. string.sub(e, 1, 200))
  end
end

while true do
  local head = redis.call('ZRANGE', KEYS[1], 0, 0)
  if #head == 0 then
    if ARGV[7] == '1' then redis.call('DEL', KEYS[4]) end
    return {1}
  end
  local m = head[1]
  local payload = redis.call('HGET', KEYS[2], m)
  if payload then
    local id = string.sub(m, 18)
    local confirmed = tonumber(redis.call('HGET', KEYS[3], 'c:' .. id) or '0')
    local pending = redis.call('HGET', KEYS[3], 'p:' .. id)
    local pidx, age, echoed = -1, 0, 0
    if pending then
      local sep = string.find(pending, ':', 1, true)
      pidx = tonumber(string.sub(pending, 1, sep - 1))
      local since, key = string.match(pending, '^%d+:(%d+):(.+)$')
      if key then
        -- A channel's own confirmation key (reply-2): echoed once more echoes than owed sends came.
        age = now - tonumber(since)
        echoed = tonumber(redis.call('HGET', KEYS[3], 'k:' .. key) or '0') < 0 and 1 or 0
      else
        age = now - tonumber(string.sub(pending, sep + 1))
        echoed = redis.call('HEXISTS', KEYS[3], 'e:' .. id .. ':' .. pidx)
      end
    else
      echoed = redis.call('HEXISTS', KEYS[3], 'e:' .. id .. ':' .. confirmed)
    end
    return {0, m, payload, confirmed, pidx, age, echoed, redis.call('ZCARD', KEYS[1]), redis.call('LLEN', KEYS[6])}
  end
  -- An index entry without payload cannot be processed; enqueue-6 and this script write and
  -- remove both together, so this only heals a hand-edited key.
  redis.call('ZREM', KEYS[1], m)
end
