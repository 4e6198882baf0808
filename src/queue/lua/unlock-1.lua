--[[ unlock-1: break a conversation lock held by a worker presumed dead.
KEYS[1] lock
ARGV[1] the dead worker's lock value prefix ('<worker id>/'): only its locks are broken
Returns: 1 broken, 0 not that worker's (released, expired, or another worker's now)
]]
local v = redis.call('GET', KEYS[1])
if v and string.sub(v, 1, #ARGV[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
