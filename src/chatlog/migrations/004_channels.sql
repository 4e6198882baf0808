-- Channels: a conversation is channel + account + user. The Messenger-only schema had pages,
-- and page_id on conversations and messages; every existing row is Messenger's. Columns are
-- renamed (page_id -> account_id) and a channel column added to each table; the unique keys
-- now include the channel (a WhatsApp message id and a Messenger mid live in different spaces).
ALTER TABLE pages RENAME TO accounts;
ALTER TABLE accounts ADD COLUMN channel text NOT NULL DEFAULT 'messenger';
ALTER TABLE conversations DROP CONSTRAINT IF EXISTS conversations_page_id_fkey;
ALTER TABLE accounts DROP CONSTRAINT IF EXISTS pages_pkey;
ALTER TABLE accounts ADD CONSTRAINT accounts_pkey PRIMARY KEY (channel, id);
ALTER TABLE accounts ALTER COLUMN channel DROP DEFAULT;

ALTER TABLE conversations RENAME COLUMN page_id TO account_id;
ALTER TABLE conversations ADD COLUMN channel text NOT NULL DEFAULT 'messenger';
ALTER TABLE conversations ALTER COLUMN channel DROP DEFAULT;
ALTER TABLE conversations DROP CONSTRAINT IF EXISTS conversations_page_id_user_id_key;
ALTER TABLE conversations ADD CONSTRAINT conversations_channel_account_user_key UNIQUE (channel, account_id, user_id);
ALTER TABLE conversations ADD CONSTRAINT conversations_account_fkey FOREIGN KEY (channel, account_id) REFERENCES accounts (channel, id);
DROP INDEX IF EXISTS conversations_page_recent;
CREATE INDEX conversations_account_recent ON conversations (channel, account_id, last_message_at DESC, id DESC);

ALTER TABLE messages RENAME COLUMN page_id TO account_id;
ALTER TABLE messages ADD COLUMN channel text NOT NULL DEFAULT 'messenger';
ALTER TABLE messages ALTER COLUMN channel DROP DEFAULT;
ALTER TABLE messages DROP CONSTRAINT IF EXISTS messages_page_id_mid_key;
ALTER TABLE messages ADD CONSTRAINT messages_channel_account_mid_key UNIQUE (channel, account_id, mid);
DROP INDEX IF EXISTS messages_reply_to;
CREATE INDEX messages_reply_to ON messages (channel, account_id, reply_to_mid) WHERE reply_to_mid IS NOT NULL;
-- When the platform reported it could not deliver an outbound message (WhatsApp `failed` statuses; the reason goes to `error`).
ALTER TABLE messages ADD COLUMN failed_at timestamptz;
