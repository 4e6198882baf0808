--[[ connect-2: a visitor's socket opens (or renews its lease), within the visitor's connection cap.
KEYS[1] conn      zset: the visitor's open sockets, "<gateway id>|<socket id>" -> ms their lease ends
KEYS[2] notified  string: set while the visitor, away, has been told of a reply
ARGV[1] now (ms)   ARGV[2] the socket's member   ARGV[3] ms its lease ends   ARGV[4] sockets allowed per visitor
Returns: {1, sockets open before this one} opened (the visitor is back: the next absence may be notified again) | {0, sockets open} over the cap
]]
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', tonumber(ARGV[1]))
local open = redis.call('ZCARD', KEYS[1])
if not redis.call('ZSCORE', KEYS[1], ARGV[2]) and open >= tonumber(ARGV[4]) then
  return {0, open}
end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[2])
redis.call('PEXPIREAT', KEYS[1], ARGV[3])
redis.call('DEL', KEYS[2])
return {1, open}
