--[[ visitor-3: append a visitor's message to the conversation's transcript, once, within the visitor's rate.
KEYS[1] log   stream: the transcript, visitor messages and replies in the order they happened (field e = entry JSON)
KEYS[2] ids   zset: message and reply ids in the transcript -> ms of their entry (dedupe markers, trimmed after ARGV[2])
KEYS[3] rate  counter: the visitor's messages in the current rate window
ARGV[1] now (ms)   ARGV[2] dedupe ttl (ms)   ARGV[3] transcript length kept (approximate)   ARGV[4] transcript ttl (ms)
ARGV[5] the message's id   ARGV[6] its entry JSON   ARGV[7] messages allowed per window   ARGV[8] window (ms)
Returns: {1, entry id} appended | {2, ms of the entry} already in the transcript (not counted) | {3, ms until the window ends} over the rate (not appended)
]]
local now = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - tonumber(ARGV[2]))
local ms = redis.call('ZSCORE', KEYS[2], ARGV[5])
if ms then
  return {2, ms}
end
local n = redis.call('INCR', KEYS[3])
if n == 1 or redis.call('PTTL', KEYS[3]) < 0 then
  redis.call('PEXPIRE', KEYS[3], ARGV[8])
end
if n > tonumber(ARGV[7]) then
  return {3, redis.call('PTTL', KEYS[3])}
end
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[3], '*', 'e', ARGV[6])
redis.call('ZADD', KEYS[2], string.match(id, '^(%d+)'), ARGV[5])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
return {1, id}
