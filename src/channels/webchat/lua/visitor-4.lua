--[[ visitor-4: append a visitor's message to the conversation's transcript, once, within the visitor's rate, and say who must hear of it.
KEYS[1] log   stream: the transcript, visitor messages and replies in the order they happened (field e = entry JSON)
KEYS[2] ids   zset: message and reply ids in the transcript -> ms of their entry (dedupe markers, trimmed after ARGV[2])
KEYS[3] rate  counter: the visitor's messages in the current rate window
KEYS[4] conn  zset: the visitor's open sockets, "<gateway id>|<socket id>" -> ms their lease ends
ARGV[1] now (ms)   ARGV[2] dedupe ttl (ms)   ARGV[3] transcript length kept (approximate)   ARGV[4] transcript ttl (ms)
ARGV[5] the message's id   ARGV[6] its entry JSON   ARGV[7] messages allowed per window   ARGV[8] window (ms)
Returns: {1, entry id, gateway ids…} appended | {2, ms of the entry, gateway ids…} already in the transcript (not counted) |
{3, ms until the window ends} over the rate (not appended); the gateways hold a socket of the visitor (to wake them: the visitor's other tabs show it)
]]
local now = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - tonumber(ARGV[2]))
local out
local ms = redis.call('ZSCORE', KEYS[2], ARGV[5])
if ms then
  out = {2, ms}
else
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
  out = {1, id}
end
local seen = {}
for _, m in ipairs(redis.call('ZRANGEBYSCORE', KEYS[4], now, '+inf')) do
  local g = string.match(m, '^([^|]+)|')
  if g and not seen[g] then
    seen[g] = true
    out[#out + 1] = g
  end
end
return out
