-- Who wrote each message, and when and why a conversation last changed hands.
ALTER TABLE messages ADD COLUMN author text CHECK (author IN ('user', 'bot', 'agent', 'page'));
ALTER TABLE conversations ADD COLUMN status_changed_at timestamptz;
ALTER TABLE conversations ADD COLUMN status_cause text;
ALTER TABLE conversations ADD COLUMN agent text;
