--[[ advance-1: move a conversation's cursor (delivered, read) forward to a transcript entry id, never back.
KEYS[1] state  hash: the conversation's web chat cursors and marks
ARGV[1] field   ARGV[2] transcript entry id ("<ms>-<seq>")   ARGV[3] ttl of the hash (ms)
Returns: the previous value ('' if none) when the cursor moved, false when it was already there or past it
]]
local old = redis.call('HGET', KEYS[1], ARGV[1])
local function parts(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  return tonumber(ms), tonumber(seq)
end
local nms, nseq = parts(ARGV[2])
if not nms then
  return false
end
if old then
  local oms, oseq = parts(old)
  if oms and (oms > nms or (oms == nms and oseq >= nseq)) then
    return false
  end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return old or ''
