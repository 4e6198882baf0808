-- Agents' private notes on a conversation (never sent), and who corrected a message's intent.
CREATE TABLE notes (
  id bigserial PRIMARY KEY,
  conversation_id bigint NOT NULL REFERENCES conversations (id),
  author text NOT NULL,
  text text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX notes_conversation ON notes (conversation_id, created_at);
ALTER TABLE messages ADD COLUMN corrected_by text;
ALTER TABLE messages ADD COLUMN corrected_at timestamptz;
CREATE INDEX messages_low_confidence ON messages (conversation_id) WHERE direction = 'in' AND (intent = 'None' OR score < 0.5);
