--[[ claim-peek-n: ONE SERVER ONLY (it names the claimed conversations' keys itself, which a
cluster refuses). A worker's polling round (claim-n), and for each conversation it leases the
first call of the visit (next-6: take the lock, move overflow, peek the first event), handing
back at once one whose lock is busy (settle-2 'requeue') or whose queue is empty (settle-2
'remove'). Claim and first peek — two round trips a visit — become one per round.
KEYS[1..n] ready shards   KEYS[n+1..2n] their owners hashes (as claim-n's)
ARGV[1] lease ms   ARGV[2] the claiming worker's id   ARGV[3..n+2] max conversations to claim from KEYS[1..n]
then: ARGV[n+3] the conversation key prefix: a conversation's keys are '<prefix>:{<id>}:q' … (queue/keys.ts)
      ARGV[n+4] lock value prefix ('<worker id>/<random>'): the k-th conversation leased gets '<prefix>:<k>'
      ARGV[n+5] lock ttl ms   ARGV[n+6] ttl (ms) of the reply bookkeeping (next-6's ARGV[5])
      ARGV[n+7] cap on queued events (next-6's ARGV[8])   ARGV[n+8] delay (ms) before a busy one is claimable again
      ARGV[n+9] idle ms (claim-n's ARGV[n+3])
Returns: one entry per conversation leased: {conversation, lease score, ms it waited, lock value, next-6's reply};
  a reply {3} (busy) or {1} (empty) says it was handed back already; then one number, as claim-n's last
]]
--@include clock
--@include wake
--@include claim
--@include next
--@include settle
local now = now_ms()
local lease = now + tonumber(ARGV[1])
local worker = ARGV[2]
local n = #KEYS / 2
local prefix, values, lockTtl, ttl, cap, delay = ARGV[n + 3], ARGV[n + 4], ARGV[n + 5], ARGV[n + 6], ARGV[n + 7], ARGV[n + 8]
local idle = tonumber(ARGV[n + 9] or '0')
local out = {}
local soonest = -1
for s = 1, n do
  local max = tonumber(ARGV[s + 2])
  local due = claim_due(KEYS[s], KEYS[n + s], max, lease, worker, now)
  for i = 1, #due, 2 do
    local c = due[i]
    local base = prefix .. ':{' .. c .. '}:'
    local k = {base .. 'q', base .. 'ev', base .. 'sent', base .. 'lock', base .. 'seq', base .. 'overflow'}
    local value = values .. ':' .. (#out + 1)
    local reply = next_event(k, {value, '', '', 0, ttl, lockTtl, '1', cap}, now)
    if reply[1] == 3 then
      settle_claim(KEYS[s], KEYS[n + s], c, lease, 'requeue', delay, worker, now)
    elseif reply[1] == 1 then
      settle_claim(KEYS[s], KEYS[n + s], c, lease, 'remove', 0, worker, now)
    end
    out[#out + 1] = {c, lease, due[i + 1], value, reply}
  end
  -- After the hand-backs: they must not wake the workers this round is about to send to sleep.
  soonest = after_claim(KEYS[s], #due < 2 * max, now, idle, soonest)
end
out[#out + 1] = soonest
return out
