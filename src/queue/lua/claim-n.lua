--[[ claim-n: lease conversations of one or more ready shards whose ready time has come.
KEYS[1..n] ready shards: zset conversation id -> ms (Redis clock) from which it may be claimed.
           On a cluster the shards live in different slots: one call per shard. On one server,
           one call covers every shard (a worker's whole polling round in one round trip).
KEYS[n+1..2n] the owners hash of each shard (same slot): conversation id -> worker that leased it
ARGV[1] lease ms (the lock TTL): a holder that dies is claimable again after it, or sooner
        when the reaper sees that worker's heartbeat stop (it finds the leases in the owners hash)
ARGV[2] the claiming worker's id ('' = not recorded)
ARGV[3..n+2] max conversations to claim from KEYS[1..n]
Returns: flat array of triples: conversation id, lease score (the token settle-2 compares), ms it waited
]]
--@include clock
--@include claim
local now = now_ms()
local lease = now + tonumber(ARGV[1])
local n = #KEYS / 2
local out = {}
for k = 1, n do
  local due = claim_due(KEYS[k], KEYS[n + k], tonumber(ARGV[k + 2]), lease, ARGV[2], now)
  for i = 1, #due, 2 do
    out[#out + 1] = due[i]
    out[#out + 1] = lease
    out[#out + 1] = due[i + 1]
  end
end
return out
