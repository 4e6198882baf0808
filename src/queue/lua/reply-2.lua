--[[ reply-2: bookkeeping around one Send API call, so a crash never sends a confirmed reply twice.
KEYS[1] sent   KEYS[2] lock
ARGV[1] caller's lock value   ARGV[2] event id   ARGV[3] 'begin', 'done' or 'abort'   ARGV[4] reply index   ARGV[5] ttl (ms)
ARGV[6] (optional, begin) the channel's confirmation key of the message: its confirmations name content, not replies
begin: fenced; records "reply i is being sent, since <redis ms>" (and the key: "i:<ms>:<key>")
done:  not fenced (the reply did go out, whoever holds the lock now): records i+1 confirmed replies
abort: the Send API answered with an error, so nothing went out: forgets the pending send
Keyed confirmations count, in k:<key>, the sends of that content still owed an echo minus the echoes
not yet matched (enqueue-6 takes one off per echo): a pending send is confirmed once it is below 0.
A fresh begin drops a surplus (echoes of sends not ours); done adds the send; 0 deletes the field.
Returns: 0 ok, 2 fenced (begin only)
]]
if ARGV[3] == 'begin' then
  if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 2 end
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  local mark = ARGV[4] .. ':' .. now
  if ARGV[6] and ARGV[6] ~= '' then
    -- Restarting the clock of the same send keeps its echo; a new send starts from no surplus.
    local prev = redis.call('HGET', KEYS[1], 'p:' .. ARGV[2])
    if not prev or string.sub(prev, 1, #ARGV[4] + 1) ~= ARGV[4] .. ':' then
      if tonumber(redis.call('HGET', KEYS[1], 'k:' .. ARGV[6]) or '0') < 0 then redis.call('HDEL', KEYS[1], 'k:' .. ARGV[6]) end
    end
    mark = mark .. ':' .. ARGV[6]
  end
  redis.call('HSET', KEYS[1], 'p:' .. ARGV[2], mark)
elseif ARGV[3] == 'done' then
  local prev = redis.call('HGET', KEYS[1], 'p:' .. ARGV[2])
  redis.call('HSET', KEYS[1], 'c:' .. ARGV[2], tonumber(ARGV[4]) + 1)
  redis.call('HDEL', KEYS[1], 'p:' .. ARGV[2])
  local key = prev and string.match(prev, '^' .. ARGV[4] .. ':%d+:(.+)$')
  if key and redis.call('HINCRBY', KEYS[1], 'k:' .. key, 1) == 0 then redis.call('HDEL', KEYS[1], 'k:' .. key) end
else
  redis.call('HDEL', KEYS[1], 'p:' .. ARGV[2])
end
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return 0
