--[[ finish-n: ONE SERVER ONLY (its keys span slots). For each conversation a worker has finished
an event of: append the event's chatlog records, acknowledge the event and peek the next (next-6,
releasing the lock when the queue is found empty), and hand an emptied conversation back to its
ready shard (settle-2 'remove'). A chatlog pipeline, next-6 and settle-2 — three round trips —
become one, shared by every conversation the worker finishes at about the same time.
KEYS: 9 per conversation: q, ev, sent, lock, seq, overflow (next-6's), ready shard, owners (settle-2's), chatlog stream shard
ARGV[1] ttl (ms)   ARGV[2] cap on queued events (0 = none), as next-6's
then per conversation: conversation id, lock value, member to acknowledge, its event id, replies sent,
  lease token from claim-n ('' = hand nothing back), the worker id recorded with the lease,
  r = number of chatlog records, then the r records (JSON)
Returns: one reply per conversation, in order:
  next-6's reply, except an empty queue: {1, 1 handed back / 0 not (new work flagged, or re-leased)};
  {-1, error} when a record could not be appended: nothing of that conversation was acknowledged (retry it)
]]
--@include clock
--@include wake
--@include next
--@include settle
local now = now_ms()
local ttl, cap = ARGV[1], ARGV[2]
local out = {}
local a = 3
for base = 0, #KEYS - 9, 9 do
  local conversation, value, member, id, sent, token, owner, r = ARGV[a], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], ARGV[a + 4], ARGV[a + 5], ARGV[a + 6], tonumber(ARGV[a + 7])
  local failed
  for j = 1, r do
    local added = redis.pcall('XADD', KEYS[base + 9], '*', 'r', ARGV[a + 7 + j])
    if type(added) == 'table' and added.err then
      failed = added.err
      break
    end
  end
  a = a + 8 + r
  if failed then
    out[#out + 1] = {-1, failed}
  else
    local k = {KEYS[base + 1], KEYS[base + 2], KEYS[base + 3], KEYS[base + 4], KEYS[base + 5], KEYS[base + 6]}
    local reply = next_event(k, {value, member, id, sent, ttl, '0', '1', cap}, now)
    if reply[1] == 1 then
      reply[2] = token ~= '' and settle_claim(KEYS[base + 7], KEYS[base + 8], conversation, token, 'remove', 0, owner, now) or 0
    end
    out[#out + 1] = reply
  end
end
return out
