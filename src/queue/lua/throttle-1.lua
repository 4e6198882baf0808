--[[ throttle-1: take an attempt from a slow-down throttle, or give one back (Redis clock, so every gateway agrees).
KEYS[1] throttle hash: n = attempts counted, next = when the next one may be taken (ms)
ARGV[1] op: take | give (an attempt that succeeded is not counted: it is given back)
ARGV[2] free: attempts taken without waiting
ARGV[3] base interval (ms) after the free attempts; it doubles with each attempt after
ARGV[4] cap of the interval (ms)
ARGV[5] memory (ms): the throttle is forgotten this long after its last attempt
The attempt is taken before it is tried (concurrent callers cannot all see the same count),
and a refused attempt takes nothing: an attacker's refused tries do not push the owner's
next chance further away.
Returns: {1, 0} taken (or given back), or {0, wait ms} refused
]]
local n = tonumber(redis.call('HGET', KEYS[1], 'n') or '0')
if ARGV[1] == 'give' then
  if n > 0 then redis.call('HSET', KEYS[1], 'n', n - 1) end
  return {1, 0}
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local free = tonumber(ARGV[2])
local nextAt = tonumber(redis.call('HGET', KEYS[1], 'next') or '0')
if n >= free and now < nextAt then return {0, nextAt - now} end
n = n + 1
if n >= free then
  nextAt = now + math.min(tonumber(ARGV[4]), tonumber(ARGV[3]) * 2 ^ (n - free))
  redis.call('HSET', KEYS[1], 'n', n, 'next', nextAt)
else
  redis.call('HSET', KEYS[1], 'n', n)
end
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return {1, 0}
