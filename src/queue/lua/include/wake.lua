--[[ wake_idle(ready): call after a conversation of this ready shard became claimable (now, or at
an earlier time than before). A claim round that found nothing more due in the shard set its idle
flag ('<ready>:idle', same slot: after_claim); if it is set, this clears it and publishes the shard
on the wake channel ('<prefix>:wake', from the ready key '<prefix>:ready:{r<n>}'), which every
worker process listens to (queue/wake.ts). One message per idle spell of a shard, none while the
workers are busy: under load the flag is not set, and this costs one DEL. A PUBLISH refused (a
Redis user without pub/sub rights) does not fail the script: the work is queued all the same,
and the workers find it within WORKER_IDLE_MS.
Included, never run alone; include it before the scripts' other includes that call it.
]]
local function wake_idle(ready)
  if redis.call('DEL', ready .. ':idle') == 1 then redis.pcall('PUBLISH', string.match(ready, '^(.*):ready:{') .. ':wake', ready) end
end
