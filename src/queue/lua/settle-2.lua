--[[ settle-2: hand a claimed conversation back to its ready shard.
KEYS[1] ready shard   KEYS[2] its owners hash (conversation id -> worker that leased it)
ARGV[1] conversation id   ARGV[2] lease token from claim-n
ARGV[3] 'remove' (its queue was seen empty) or 'requeue'   ARGV[4] delay ms before it may be claimed again
ARGV[5] the settling worker's id ('' = none recorded): its owners entry is dropped (the claim is over)
Score = token: ours, untouched. Score = token - 0.5: ours, and mark-1 flagged new work meanwhile,
so it is kept and made ready now (never removed). Any other score: another worker leased it
after our lease ran out (or the reaper handed it over), and the entry is theirs. Absent:
(requeue only) added back.
Returns: 1 settled as asked, 0 not (kept for new work, or left to its new holder)
]]
--@include clock
--@include wake
--@include settle
return settle_claim(KEYS[1], KEYS[2], ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], now_ms())
