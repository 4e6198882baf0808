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
--@include clock
--@include reply
return reply_mark(KEYS[1], KEYS[2], ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[3] == 'begin' and now_ms() or 0)
