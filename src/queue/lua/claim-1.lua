--[[ claim-1: lease up to N conversations of one ready shard whose ready time has come.
KEYS[1] ready shard: zset conversation id -> ms (Redis clock) from which it may be claimed
ARGV[1] lease ms (the lock TTL): a holder that dies is claimable again after it
ARGV[2] max conversations
Returns: flat array of triples: conversation id, lease score (the token settle-1 compares), ms it waited
]]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lease = now + tonumber(ARGV[1])
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'WITHSCORES', 'LIMIT', 0, tonumber(ARGV[2]))
local out = {}
for i = 1, #due, 2 do
  redis.call('ZADD', KEYS[1], lease, due[i])
  out[#out + 1] = due[i]
  out[#out + 1] = lease
  out[#out + 1] = now - tonumber(due[i + 1])
end
return out
