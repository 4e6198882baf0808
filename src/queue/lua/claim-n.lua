--[[ claim-n: lease conversations of one or more ready shards whose ready time has come.
KEYS[1..n] ready shards: zset conversation id -> ms (Redis clock) from which it may be claimed.
           On a cluster the shards live in different slots: one call per shard. On one server,
           one call covers every shard (a worker's whole polling round in one round trip).
KEYS[n+1..2n] the owners hash of each shard (same slot): conversation id -> worker that leased it
ARGV[1] lease ms (the lock TTL): a holder that dies is claimable again after it, or sooner
        when the reaper sees that worker's heartbeat stop (it finds the leases in the owners hash)
ARGV[2] the claiming worker's id ('' = not recorded)
ARGV[3..n+2] max conversations to claim from KEYS[1..n]
ARGV[n+3] idle ms: how long a shard with nothing more due stays flagged idle (claim_due; 0 = not flagged)
Returns: flat array of triples: conversation id, lease score (the token settle-2 compares), ms it waited;
  then one number: ms until the earliest entry of these shards is due (-1: they are empty)
]]
--@include clock
--@include claim
local now = now_ms()
local lease = now + tonumber(ARGV[1])
local n = #KEYS / 2
local idle = tonumber(ARGV[n + 3] or '0')
local out = {}
local soonest = -1
for k = 1, n do
  local max = tonumber(ARGV[k + 2])
  local due = claim_due(KEYS[k], KEYS[n + k], max, lease, ARGV[2], now)
  for i = 1, #due, 2 do
    out[#out + 1] = due[i]
    out[#out + 1] = lease
    out[#out + 1] = due[i + 1]
  end
  soonest = after_claim(KEYS[k], #due < 2 * max, now, idle, soonest)
end
out[#out + 1] = soonest
return out
