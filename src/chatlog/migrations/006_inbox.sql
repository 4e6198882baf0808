-- The agent inbox (#16): a ticket life cycle instead of bot/human, its history, who the
-- user is (from the platforms' profile APIs), canned replies and CSAT answers.
-- Conversations in human mode become `assigned` (an agent had taken them) or `waiting`.
ALTER TABLE conversations DROP CONSTRAINT IF EXISTS conversations_status_check;
UPDATE conversations SET status = CASE WHEN agent IS NOT NULL THEN 'assigned' ELSE 'waiting' END WHERE status = 'human';
ALTER TABLE conversations ADD CONSTRAINT conversations_status_check CHECK (status IN ('bot', 'waiting', 'assigned', 'resolved', 'snoozed'));
ALTER TABLE conversations ADD COLUMN waiting_since timestamptz;
ALTER TABLE conversations ADD COLUMN snoozed_until timestamptz;
ALTER TABLE conversations ADD COLUMN display_name text;
ALTER TABLE conversations ADD COLUMN first_name text;
ALTER TABLE conversations ADD COLUMN avatar_url text;
UPDATE conversations SET waiting_since = status_changed_at WHERE status = 'waiting';
CREATE INDEX conversations_inbox ON conversations (status, agent) WHERE status <> 'bot';

-- Every change of a conversation's status: from, to, the agent holding it after, who made the
-- change (an agent, 'bot' or 'system') and why. `event_id` makes a record written twice one row.
CREATE TABLE status_events (
  id bigserial PRIMARY KEY,
  event_id text NOT NULL UNIQUE,
  conversation_id bigint NOT NULL REFERENCES conversations (id),
  from_status text,
  to_status text NOT NULL,
  agent text,
  by text NOT NULL,
  cause text NOT NULL,
  at timestamptz NOT NULL
);
CREATE INDEX status_events_conversation ON status_events (conversation_id, at);
CREATE INDEX status_events_at ON status_events (at);
-- What human mode was, as history: one event per conversation that was in it.
INSERT INTO status_events (event_id, conversation_id, from_status, to_status, agent, by, cause, at)
SELECT 'migrated:' || id, id, 'bot', status, agent, coalesce(agent, 'bot'), coalesce(status_cause, 'migrated'), coalesce(status_changed_at, last_message_at, now())
FROM conversations WHERE status IN ('waiting', 'assigned');

-- Answers to the satisfaction survey sent after a conversation is resolved (1 to 5).
CREATE TABLE csat_answers (
  id bigserial PRIMARY KEY,
  event_id text NOT NULL UNIQUE,
  conversation_id bigint NOT NULL REFERENCES conversations (id),
  score integer NOT NULL CHECK (score BETWEEN 1 AND 5),
  agent text,
  at timestamptz NOT NULL
);
CREATE INDEX csat_answers_at ON csat_answers (at);

-- Canned replies, per account; `{{first_name}}`-style fields are filled when an agent picks one.
CREATE TABLE canned_replies (
  id bigserial PRIMARY KEY,
  channel text NOT NULL,
  account_id text NOT NULL,
  title text NOT NULL,
  text text NOT NULL,
  created_by text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (channel, account_id, title)
);
