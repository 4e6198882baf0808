-- The right to be forgotten. A conversation erased on request leaves a tombstone: records
-- of it still in the chatlog stream (appended before the erasure, written after it) are
-- dropped instead of bringing its messages back. Deletion requests are tracked for the
-- status page a platform links the user to (Meta's data-deletion callback).
CREATE TABLE forgotten (
  channel text NOT NULL,
  account_id text NOT NULL,
  user_id text NOT NULL,
  forgotten_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (channel, account_id, user_id)
);

CREATE TABLE deletion_requests (
  code text PRIMARY KEY,
  -- Who asked: 'facebook' (the data-deletion callback), 'cli', or an admin's name.
  requested_by text NOT NULL,
  -- What was asked for, without the user's messages: channel, account and user ids.
  subject jsonb NOT NULL,
  requested_at timestamptz NOT NULL DEFAULT now(),
  completed_at timestamptz,
  -- Counts of what was erased.
  result jsonb
);
