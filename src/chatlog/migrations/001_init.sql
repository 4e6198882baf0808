-- The chatlog schema. Analysts query it directly: see "Chatlog schema" in the README.
CREATE TABLE pages (
  id text PRIMARY KEY,
  name text,
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE conversations (
  id bigserial PRIMARY KEY,
  page_id text NOT NULL REFERENCES pages (id),
  user_id text NOT NULL,
  status text NOT NULL DEFAULT 'bot' CHECK (status IN ('bot', 'human')),
  first_message_at timestamptz,
  last_message_at timestamptz,
  messages_in integer NOT NULL DEFAULT 0,
  messages_out integer NOT NULL DEFAULT 0,
  last_text text,
  last_intent text,
  UNIQUE (page_id, user_id)
);

CREATE TABLE messages (
  id bigserial PRIMARY KEY,
  page_id text NOT NULL,
  mid text NOT NULL,
  conversation_id bigint NOT NULL REFERENCES conversations (id),
  direction text NOT NULL CHECK (direction IN ('in', 'out')),
  kind text NOT NULL,
  text text,
  payload text,
  attachments jsonb,
  intent text,
  score real,
  intents jsonb,
  entities jsonb,
  sentiment real,
  corrected_intent text,
  error text,
  reply_to_mid text,
  reply_index integer,
  platform_ts timestamptz,
  received_at timestamptz,
  enqueued_at timestamptz,
  started_at timestamptz,
  nlu_ms real,
  action_ms real,
  send_ms real,
  replied_at timestamptz,
  delivered_at timestamptz,
  read_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (page_id, mid)
);

CREATE INDEX messages_conversation_order ON messages (conversation_id, platform_ts, id);
CREATE INDEX messages_reply_to ON messages (page_id, reply_to_mid) WHERE reply_to_mid IS NOT NULL;
CREATE INDEX messages_in_intent ON messages (intent, received_at) WHERE direction = 'in';
CREATE INDEX messages_received_at ON messages (received_at);
CREATE INDEX messages_replied_at ON messages (replied_at) WHERE direction = 'out';
CREATE INDEX messages_text_search ON messages USING gin (to_tsvector('simple', coalesce(text, '')));
CREATE INDEX conversations_recent ON conversations (last_message_at DESC, id DESC);
CREATE INDEX conversations_page_recent ON conversations (page_id, last_message_at DESC, id DESC);
CREATE INDEX conversations_status ON conversations (status, last_message_at DESC);
-- When a message happened, whichever side it is on: the time axis of stats and date filters.
CREATE INDEX messages_at ON messages ((coalesce(received_at, replied_at, platform_ts)));
