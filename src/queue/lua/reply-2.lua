--[[ reply-2: bookkeeping around one Send API call, so a crash never sends a confirmed reply twice.
KEYS[1] sent   KEYS[2] lock
ARGV[1] caller's lock value   ARGV[2] event id   ARGV[3] 'begin', 'done' or 'abort'   ARGV[4] reply index   ARGV[5] ttl (ms)
begin: fenced; records "reply i is being sent, since <redis ms>"
done:  not fenced (the reply did go out, whoever holds the lock now): records i+1 confirmed replies
abort: the Send API answered with an error, so nothing went out: forgets the pending send
Returns: 0 ok, 2 fenced (begin only)
]]
if ARGV[3] == 'begin' then
  if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 2 end
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  redis.call('HSET', KEYS[1], 'p:' .. ARGV[2], ARGV[4] .. ':' .. now)
elseif ARGV[3] == 'done' then
  redis.call('HSET', KEYS[1], 'c:' .. ARGV[2], tonumber(ARGV[4]) + 1)
  redis.call('HDEL', KEYS[1], 'p:' .. ARGV[2])
else
  redis.call('HDEL', KEYS[1], 'p:' .. ARGV[2])
end
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return 0
