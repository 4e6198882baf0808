--[[ inbox-n: one change of a conversation's inbox status (bot, waiting, assigned, resolved, snoozed).
KEYS[1] the conversation's inbox hash: status, agent, since, waitingSince, snoozeUntil, agentAt, thread, lastAgent, ev:<op>
KEYS[2] (one server only) the waiting sorted set (member: conversation, score: waiting since)
KEYS[3] (one server only) the snoozed sorted set (member: conversation, score: snoozed until)
   On a cluster those two live in other slots: the caller updates them after the script, and a
   leader job repairs them from the hashes (src/inbox/janitor.ts).
ARGV[1] op: claim | pick | assign | unassign | resolve | snooze | release | handoff | agent | staff | user | wake | thread | adopt | peek
ARGV[2] now (ms; the event's time for the worker's ops, so a replayed event decides the same)
ARGV[3] actor: the agent the op names (claim, pick, assign's target, agent, staff)
ARGV[4] guard: '*', or the agent who may hold the conversation already (claim and the admin ops
        fail with a conflict when someone else holds it; 'page inbox' never blocks them)
ARGV[5] arg: snooze until (ms) | idle ms (user) | thread owner (thread) | status (adopt)
ARGV[6] replay key ('' for none): a worker's event id; a second call of the same op with it answers
        the first call's reply and changes nothing (an event processed again after a crash)
ARGV[7] conversation (the sorted sets' member)
ARGV[8] ttl (ms) of the hash once the conversation is back with the bot (bot, resolved)
Returns: {code, from, to, agent, since, waitingSince, snoozeUntil, changed, thread, lastAgent}
  code 0 done (changed 1 or 0), 1 conflict: someone else holds it (agent and since are theirs)
]]
local key = KEYS[1]
local op, now, actor, guard, arg, replay, member, ttl = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], tonumber(ARGV[8])
if replay ~= '' then
  local prev = redis.call('HGET', key, 'ev:' .. op)
  if prev then
    local r = cjson.decode(prev)
    if r[1] == replay then table.remove(r, 1); return r end
  end
end
local h = {}
local raw = redis.call('HGETALL', key)
for i = 1, #raw, 2 do h[raw[i]] = raw[i + 1] end
local status = h.status or 'bot'
local agent = h.agent or ''
local s = { status = status, agent = agent, since = h.since or '0', waitingSince = h.waitingSince or '', snoozeUntil = h.snoozeUntil or '',
  agentAt = h.agentAt or '', thread = h.thread or '', lastAgent = h.lastAgent or '' }
-- The Page Inbox's staff ('page inbox') hold a conversation only until an agent of ours claims it.
local function held() return status == 'assigned' and agent ~= '' and agent ~= 'page inbox' and guard ~= '*' and agent ~= guard end
local function reply(code, changed)
  return {code, status, s.status, s.agent, tonumber(s.since) or 0, tonumber(s.waitingSince) or 0, tonumber(s.snoozeUntil) or 0, changed, s.thread, s.lastAgent}
end
if op == 'peek' then return reply(0, 0) end
-- pick (round-robin): a claim of a conversation that is still waiting, and nothing else
if op == 'pick' and status ~= 'waiting' then return reply(0, 0) end
if (op == 'claim' or op == 'assign' or op == 'unassign' or op == 'resolve' or op == 'snooze' or op == 'release') and held() then
  return reply(1, 0)
end
local function to(st, who)
  s.status = st
  s.agent = who or ''
  if who and who ~= '' then s.lastAgent = who end
  if st == 'waiting' and status ~= 'waiting' then s.waitingSince = tostring(now) end
  if st ~= 'waiting' and st ~= 'assigned' then s.waitingSince = '' end
  if st ~= 'snoozed' then s.snoozeUntil = '' end
end
local function back() -- a snoozed conversation the user (or the clock) wakes goes back to its agent, else to the queue
  if agent ~= '' then to('assigned', agent) else to('waiting') end
end
if op == 'claim' or op == 'pick' or op == 'agent' then
  if not (op == 'agent' and status == 'assigned' and agent ~= '' and agent ~= actor) then to('assigned', actor) end
  s.agentAt = tostring(now)
elseif op == 'assign' then to('assigned', actor); s.agentAt = tostring(now)
elseif op == 'unassign' then to('waiting')
elseif op == 'resolve' then to('resolved')
elseif op == 'snooze' then to('snoozed', agent); s.snoozeUntil = arg
elseif op == 'release' then to('bot')
elseif op == 'handoff' then
  if status == 'bot' or status == 'resolved' then to('waiting') end
elseif op == 'staff' then
  if not (status == 'assigned' and agent ~= '') then to('assigned', actor) end
  s.agentAt = tostring(now)
elseif op == 'user' then
  local last = math.max(tonumber(s.agentAt) or 0, tonumber(s.since) or 0)
  if status == 'snoozed' then back()
  elseif status == 'resolved' then to('bot')
  elseif (status == 'waiting' or status == 'assigned') and now - last > tonumber(arg) then to('bot')
  end
elseif op == 'wake' then
  if status == 'snoozed' and (tonumber(s.snoozeUntil) or 0) <= now then back() end
elseif op == 'thread' then s.thread = arg
elseif op == 'adopt' then
  if #raw == 0 then to(arg, actor ~= '' and actor or nil) end
else
  return redis.error_reply('inbox-n: unknown op ' .. op)
end
local changed = (s.status ~= status or s.agent ~= agent) and 1 or 0
if changed == 1 then s.since = tostring(now) end
local changedAny = changed == 1 or s.thread ~= (h.thread or '') or s.agentAt ~= (h.agentAt or '') or s.snoozeUntil ~= (h.snoozeUntil or '')
if changedAny then
  redis.call('HSET', key, 'status', s.status, 'agent', s.agent, 'since', s.since, 'waitingSince', s.waitingSince, 'snoozeUntil', s.snoozeUntil,
    'agentAt', s.agentAt, 'thread', s.thread, 'lastAgent', s.lastAgent)
  if s.status == 'bot' or s.status == 'resolved' then redis.call('PEXPIRE', key, ttl) else redis.call('PERSIST', key) end
  if KEYS[2] then
    if s.status == 'waiting' then redis.call('ZADD', KEYS[2], tonumber(s.waitingSince), member) else redis.call('ZREM', KEYS[2], member) end
  end
  if KEYS[3] then
    if s.status == 'snoozed' then redis.call('ZADD', KEYS[3], tonumber(s.snoozeUntil), member) else redis.call('ZREM', KEYS[3], member) end
  end
end
local r = reply(0, changed)
-- Only a change needs remembering: an op that changed nothing decides the same when replayed.
if replay ~= '' and changedAny then
  local stored = { replay }
  for i = 1, #r do stored[i + 1] = r[i] end
  redis.call('HSET', key, 'ev:' .. op, cjson.encode(stored))
end
return r
