--[[ mark-1: mark conversations of one ready shard as having work, now (Redis clock).
KEYS[1] ready shard
ARGV[1..] conversation ids
ZADD LT never delays a conversation that is already waiting, and lowers a holder's lease so
that the holder's settle-1 sees the change and leaves the conversation ready.
Returns: how many conversations were added
]]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local added = 0
for i = 1, #ARGV do
  added = added + redis.call('ZADD', KEYS[1], 'LT', now, ARGV[i])
end
return added
