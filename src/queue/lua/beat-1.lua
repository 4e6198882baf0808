--[[ beat-1: a worker's heartbeat, and the workers whose heartbeat stopped.
KEYS[1] workers  zset: worker id -> ms (Redis clock) of its last heartbeat
ARGV[1] this worker's id   ARGV[2] a worker is presumed dead after this many ms without a beat
ARGV[3] at most this many dead workers returned
Returns: {now (Redis ms), 1 if this worker's entry was there already (0: its first beat, or it
         was presumed dead meanwhile and its conversations handed over), dead worker ids...}
]]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local added = redis.call('ZADD', KEYS[1], now, ARGV[1])
local out = {now, 1 - added}
local dead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[2]), 'LIMIT', 0, tonumber(ARGV[3]))
for i = 1, #dead do out[#out + 1] = dead[i] end
return out
