--[[ reply_mark(sent, lock, value, id, op, index, ttl, key, now): the body of reply-2 (its header
has the rules) for one mark, shared with the script that writes the marks of several
conversations in one call. Included, never run alone. `key`: the confirmation key ('' or nil =
none); `now`: Redis ms (read only by 'begin'). Returns reply-2's reply.
]]
local function reply_mark(sent, lock, value, id, op, index, ttl, key, now)
  if op == 'begin' then
    if redis.call('GET', lock) ~= value then return 2 end
    local mark = index .. ':' .. now
    if key and key ~= '' then
      -- Restarting the clock of the same send keeps its echo; a new send starts from no surplus.
      local prev = redis.call('HGET', sent, 'p:' .. id)
      if not prev or string.sub(prev, 1, #index + 1) ~= index .. ':' then
        if tonumber(redis.call('HGET', sent, 'k:' .. key) or '0') < 0 then redis.call('HDEL', sent, 'k:' .. key) end
      end
      mark = mark .. ':' .. key
    end
    redis.call('HSET', sent, 'p:' .. id, mark)
  elseif op == 'done' then
    local prev = redis.call('HGET', sent, 'p:' .. id)
    redis.call('HSET', sent, 'c:' .. id, tonumber(index) + 1)
    redis.call('HDEL', sent, 'p:' .. id)
    local k = prev and string.match(prev, '^' .. index .. ':%d+:(.+)$')
    if k and redis.call('HINCRBY', sent, 'k:' .. k, 1) == 0 then redis.call('HDEL', sent, 'k:' .. k) end
  else
    redis.call('HDEL', sent, 'p:' .. id)
  end
  redis.call('PEXPIRE', sent, ttl)
  return 0
end
