--[[ mark-1: mark conversations of one ready shard as having work (Redis clock).
KEYS[1] ready shard
ARGV[1..] conversation ids
Absent or waiting: ZADD LT now (never delays one that already waits).
Leased (score in the future, an integer lease from claim-n): the score becomes lease - 0.5.
It stays unclaimable while its holder works — no other worker spins on the busy lock —
and the holder's settle-2 sees the flag and leaves the conversation ready.
Returns: how many conversations were added
]]
--@include clock
--@include wake
--@include mark
local now = now_ms()
local added = 0
for i = 1, #ARGV do added = added + mark_ready(KEYS[1], ARGV[i], now) end
return added
