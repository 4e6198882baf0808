--[[ now_ms(): Redis' clock in ms, the one clock every worker and gateway agrees on. Included, never run alone. ]]
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
