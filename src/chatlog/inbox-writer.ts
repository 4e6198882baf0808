/**
 * The inbox's chatlog records, written in the writer's transaction: status changes (the
 * conversation's current status, and a `status_events` row per change), CSAT answers and user
 * profiles. Idempotent like the rest of the writer: a record written twice changes nothing more
 * (status and CSAT rows are keyed by the record's id; the latest status wins).
 */
import type { CsatRecord, ProfileRecord, StatusRecord } from './records';
import { pgJson, type SqlRunner } from './sql';

// `human` (recorded before the inbox existed) is `assigned` when an agent held it, else `waiting`.
const STATUS = `CASE WHEN s.status = 'human' THEN (CASE WHEN s.agent IS NULL THEN 'waiting' ELSE 'assigned' END) ELSE s.status END`;
const FROM = `CASE WHEN s.from_status = 'human' THEN 'assigned' ELSE s.from_status END`;
const STATUS_ROWS = `jsonb_to_recordset($1::jsonb) AS s(channel text, account_id text, user_id text, status text, from_status text, at float8, cause text, agent text, by text, id text, waiting_since float8, snoozed_until float8)`;

// The latest change per conversation wins; an older record delivered late changes nothing.
const APPLY_STATUS = `
INSERT INTO conversations (channel, account_id, user_id, status, status_changed_at, status_cause, agent, waiting_since, snoozed_until)
SELECT DISTINCT ON (channel, account_id, user_id) channel, account_id, user_id, ${STATUS}, to_timestamp(at / 1000.0), cause, agent,
  to_timestamp(waiting_since / 1000.0), to_timestamp(snoozed_until / 1000.0)
FROM ${STATUS_ROWS}
ORDER BY channel, account_id, user_id, at DESC
ON CONFLICT (channel, account_id, user_id) DO UPDATE SET status = excluded.status, status_changed_at = excluded.status_changed_at,
  status_cause = excluded.status_cause, agent = excluded.agent, waiting_since = excluded.waiting_since, snoozed_until = excluded.snoozed_until
WHERE conversations.status_changed_at IS NULL OR conversations.status_changed_at <= excluded.status_changed_at`;

const INSERT_EVENTS = `
INSERT INTO status_events (event_id, conversation_id, from_status, to_status, agent, by, cause, at)
SELECT s.id, c.id, ${FROM}, ${STATUS}, s.agent, coalesce(s.by, s.agent, 'bot'), s.cause, to_timestamp(s.at / 1000.0)
FROM ${STATUS_ROWS} JOIN conversations c ON c.channel = s.channel AND c.account_id = s.account_id AND c.user_id = s.user_id
WHERE s.id IS NOT NULL
ORDER BY s.at
ON CONFLICT (event_id) DO NOTHING`;

const INSERT_CSAT = `
INSERT INTO csat_answers (event_id, conversation_id, score, agent, at)
SELECT x.id, c.id, x.score, x.agent, to_timestamp(x.at / 1000.0)
FROM jsonb_to_recordset($1::jsonb) AS x(channel text, account_id text, user_id text, id text, score int, agent text, at float8)
JOIN conversations c ON c.channel = x.channel AND c.account_id = x.account_id AND c.user_id = x.user_id
ON CONFLICT (event_id) DO NOTHING`;

const APPLY_PROFILE = `
INSERT INTO conversations (channel, account_id, user_id, display_name, first_name, avatar_url)
SELECT DISTINCT ON (channel, account_id, user_id) channel, account_id, user_id, name, first_name, avatar_url
FROM jsonb_to_recordset($1::jsonb) AS x(channel text, account_id text, user_id text, name text, first_name text, avatar_url text, at float8)
ORDER BY channel, account_id, user_id, at DESC
ON CONFLICT (channel, account_id, user_id) DO UPDATE SET display_name = coalesce(excluded.display_name, conversations.display_name),
  first_name = coalesce(excluded.first_name, conversations.first_name), avatar_url = coalesce(excluded.avatar_url, conversations.avatar_url)`;

const conv = (r: { channel: string; account: string; user: string }) => ({ channel: r.channel, account_id: r.account, user_id: r.user });

export async function writeStatuses(tx: SqlRunner, statuses: StatusRecord[]): Promise<void> {
  const rows = pgJson(
    statuses.map((r) => ({
      ...conv(r),
      status: r.status,
      from_status: r.from ?? null,
      at: r.at,
      cause: r.cause,
      agent: r.agent ?? null,
      by: r.by ?? null,
      id: r.id ?? null,
      waiting_since: r.waitingSince ?? null,
      snoozed_until: r.snoozedUntil ?? null,
    })),
  );
  await tx.query(APPLY_STATUS, [rows]);
  if (statuses.some((r) => r.id)) await tx.query(INSERT_EVENTS, [rows]);
}

export async function writeCsat(tx: SqlRunner, answers: CsatRecord[]): Promise<void> {
  await tx.query(INSERT_CSAT, [pgJson(answers.map((r) => ({ ...conv(r), id: r.id, score: r.score, agent: r.agent ?? null, at: r.at })))]);
}

export async function writeProfiles(tx: SqlRunner, profiles: ProfileRecord[]): Promise<void> {
  await tx.query(APPLY_PROFILE, [pgJson(profiles.map((r) => ({ ...conv(r), name: r.name ?? null, first_name: r.firstName ?? null, avatar_url: r.avatarUrl ?? null, at: r.at })))]);
}
