--[[ mark-1: mark conversations of one ready shard as having work (Redis clock).
KEYS[1] ready shard
ARGV[1..] conversation ids
Absent or waiting: ZADD LT now (never delays one that already waits).
Leased (score in the future, an integer lease from claim-n): the score becomes lease - 0.5.
It stays unclaimable while its holder works — no other worker spins on the busy lock —
and the holder's settle-2 sees the flag and leaves the conversation ready.
Returns: how many conversations were added
]]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local added = 0
for i = 1, #ARGV do
  local score = redis.call('ZSCORE', KEYS[1], ARGV[i])
  local s = score and tonumber(score)
  if s and s > now then
    if s == math.floor(s) then redis.call('ZADD', KEYS[1], s - 0.5, ARGV[i]) end
  else
    added = added + redis.call('ZADD', KEYS[1], 'LT', now, ARGV[i])
  end
end
return added
