--[[ enqueue-6: add a batch of one conversation's webhook events, deduped by event id.
KEYS[1] q        zset: "<seq, 16 digits>|<event id>" scored by the platform timestamp (ms)
KEYS[2] ev       hash: queue member -> event payload (JSON)
KEYS[3] seen     zset: event id -> ms first seen (dedupe markers, trimmed after ARGV[2])
KEYS[4] sent     hash: reply bookkeeping (c:<id> confirmed count, p:<id> pending, e:<id>:<i> echo seen, k:<key> keyed count)
KEYS[5] seq      counter giving arrival order for equal timestamps
KEYS[6] overflow list: events waiting for room in the queue, oldest first, each
                 "<platform timestamp ms>|<length of id>|<event id><payload>"; next-6 moves them
                 into the queue as it drains. While it holds any, new events go behind them.
ARGV[1] now (ms)   ARGV[2] dedupe ttl (ms)   ARGV[3] cap on queued events (0 = none)
ARGV[4] cap on waiting events (0 = none): beyond it an event is refused, not marked seen, so
        the platform's redelivery is taken once there is room
ARGV[5..] groups of 5: event id, platform timestamp ms, payload, echo field to set ('' = none; '-k:<key>' = decrement), '1' queue / '0' record only
Returns: one code per event (1 queued, 2 duplicate, 3 overflow, 4 recorded only, 5 refused),
         then the queue length, then the overflow length
]]
--@include enqueue
return enqueue_events(KEYS, tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV, 5, (#ARGV - 4) / 5)
