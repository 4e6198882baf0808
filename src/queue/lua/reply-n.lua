--[[ reply-n: ONE SERVER ONLY (its keys span slots). reply-2 for several conversations in one
call: the "being sent" and "sent" marks the reply ledger writes around Send API calls of
different conversations at about the same time (a polling round's worth of first replies).
KEYS: 2 per mark: sent, lock (reply-2's)
ARGV[1] ttl (ms); then 5 per mark: lock value, event id, 'begin' | 'done' | 'abort', reply index,
  confirmation key ('' = none) (reply-2's ARGV[1..4] and [6])
Returns: reply-2's reply for each mark, in order (0 ok, 2 fenced)
]]
--@include clock
--@include reply
local now = now_ms()
local out = {}
for m = 0, #KEYS / 2 - 1 do
  local a = 2 + m * 5
  out[#out + 1] = reply_mark(KEYS[m * 2 + 1], KEYS[m * 2 + 2], ARGV[a], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], ARGV[1], ARGV[a + 4], now)
end
return out
