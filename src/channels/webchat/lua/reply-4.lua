--[[ reply-4: append a reply to the conversation's transcript (the web chat outbox), once, and say who must hear of it.
KEYS[1] log       stream: the transcript (field e = entry JSON)
KEYS[2] ids       zset: message and reply ids in the transcript -> ms of their entry (dedupe markers, trimmed after ARGV[2])
KEYS[3] conn      zset: the visitor's open sockets, "<gateway id>|<socket id>" -> ms their lease ends
KEYS[4] notified  string: set while the visitor, away, has been told of a reply (cleared when they connect)
ARGV[1] now (ms)   ARGV[2] dedupe ttl (ms)   ARGV[3] transcript length kept (approximate)   ARGV[4] transcript ttl (ms)
ARGV[5] the reply's id   ARGV[6] its entry JSON
ARGV[7] id of the visitor message it answers ('' = none)   ARGV[8] that message's entry JSON, appended first if the transcript lacks it
Returns: {code, entry id (appended) or ms (duplicate), notify, gateway ids…}: code 1 appended, 2 already there;
notify 1 when no socket of the visitor is open and nobody told them yet (the caller sends one notification);
then every gateway holding a socket of the visitor (to wake them)
]]
local now = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - tonumber(ARGV[2]))
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
local members = redis.call('ZRANGE', KEYS[3], 0, -1)
local gateways, seen = {}, {}
for _, m in ipairs(members) do
  local g = string.match(m, '^([^|]+)|')
  if g and not seen[g] then
    seen[g] = true
    gateways[#gateways + 1] = g
  end
end
local out
local ms = redis.call('ZSCORE', KEYS[2], ARGV[5])
if ms then
  out = {2, ms, 0}
else
  -- The message answered comes first, even if its gateway has not written it yet (or it was trimmed).
  if ARGV[7] ~= '' and not redis.call('ZSCORE', KEYS[2], ARGV[7]) then
    local mid = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[3], '*', 'e', ARGV[8])
    redis.call('ZADD', KEYS[2], string.match(mid, '^(%d+)'), ARGV[7])
  end
  local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[3], '*', 'e', ARGV[6])
  redis.call('ZADD', KEYS[2], string.match(id, '^(%d+)'), ARGV[5])
  redis.call('PEXPIRE', KEYS[1], ARGV[4])
  redis.call('PEXPIRE', KEYS[2], ARGV[4])
  local notify = 0
  if #members == 0 and redis.call('SET', KEYS[4], now, 'NX', 'PX', ARGV[4]) then
    notify = 1
  end
  out = {1, id, notify}
end
for _, g in ipairs(gateways) do
  out[#out + 1] = g
end
return out
