--[[ next-6: acknowledge the event just processed (fenced by the lock value), move waiting
events from the overflow list into the queue while it has room, then peek the next one.
KEYS[1] q   KEYS[2] ev   KEYS[3] sent   KEYS[4] lock (a redlock lock: a random value, with a TTL)
KEYS[5] seq   KEYS[6] overflow (both as enqueue-6 writes them)
ARGV[1] caller's lock value
ARGV[2] queue member to acknowledge ('' = none)   ARGV[3] its event id   ARGV[4] replies it sent
ARGV[5] ttl (ms) of the reply bookkeeping and of the seq counter (the dedupe ttl)
ARGV[6] lock ttl (ms) to acquire the lock first, as redlock's acquire does (SET NX PX); '0' = the caller holds it already
ARGV[7] '1': release the lock (fenced) when the queue is found empty, saving the caller a round trip
ARGV[8] cap on queued events (0 = none), as enqueue-6's
Returns: {3} busy: (acquire only) another worker holds the lock; nothing done
         {2} fenced: the caller no longer holds the lock; nothing removed (replies it sent are still recorded)
         {1} empty queue, and no event waiting in the overflow list (with ARGV[7] = '1': and the lock released)
         {0, member, payload, replies confirmed, pending reply index (-1 none), pending age ms, echo seen 0/1, queue length, overflow length}
         echo seen: for the pending reply, or with none pending for the next reply (its marks can be
         lost with a failed-over master while Facebook's echo of it arrived afterwards); for a pending
         reply marked with a confirmation key (reply-2), whether that key's echoes outnumber its sends
]]
--@include clock
--@include next
return next_event(KEYS, ARGV, now_ms())
