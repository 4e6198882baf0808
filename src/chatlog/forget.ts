/**
 * Erasure and retention in the chatlog: a user's conversations erased on request (with a
 * tombstone, so records still on their way through the chatlog stream do not bring them
 * back), the deletion requests behind a platform's status page, and the purge of messages
 * older than CHATLOG_RETENTION_DAYS in small batches (no long locks on a busy table).
 */
import crypto from 'node:crypto';
import type { ConversationRef } from '../channels/conversation';
import type { SqlClient, SqlRunner } from './sql';

/** Advisory lock: writers hold it shared per batch, an erasure exclusively (see writer.ts). */
export const ERASURE_LOCK = 727_002;

export interface Erased {
  conversations: number;
  messages: number;
  notes: number;
}

/** Who is to be forgotten: one user of one account, of every account of a channel, or of every channel. */
export interface Subject {
  channel?: string;
  account?: string;
  user: string;
}

/** The conversations in the chatlog that a subject names. */
export async function conversationsOf(db: SqlRunner, s: Subject): Promise<(ConversationRef & { id: string })[]> {
  const rows = await db.query<{ id: string | number; channel: string; account_id: string; user_id: string }>(
    'SELECT id, channel, account_id, user_id FROM conversations WHERE user_id = $1 AND ($2::text IS NULL OR channel = $2) AND ($3::text IS NULL OR account_id = $3) ORDER BY id',
    [s.user, s.channel ?? null, s.account ?? null],
  );
  return rows.map((r) => ({ id: String(r.id), channel: r.channel, account: r.account_id, user: r.user_id }));
}

/** Erases the conversations' rows (messages, notes, the conversation) and leaves their tombstones, in one transaction. */
export async function eraseConversations(db: SqlClient, refs: readonly ConversationRef[]): Promise<Erased> {
  if (refs.length === 0) return { conversations: 0, messages: 0, notes: 0 };
  const list = JSON.stringify(refs.map((r) => ({ channel: r.channel, account_id: r.account, user_id: r.user })));
  return db.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock($1)', [ERASURE_LOCK]);
    await tx.query(
      `INSERT INTO forgotten (channel, account_id, user_id)
       SELECT channel, account_id, user_id FROM jsonb_to_recordset($1::jsonb) AS x(channel text, account_id text, user_id text)
       ON CONFLICT (channel, account_id, user_id) DO UPDATE SET forgotten_at = now()`,
      [list],
    );
    const ids = (
      await tx.query<{ id: string | number }>(
        `SELECT c.id FROM conversations c JOIN jsonb_to_recordset($1::jsonb) AS x(channel text, account_id text, user_id text)
       ON c.channel = x.channel AND c.account_id = x.account_id AND c.user_id = x.user_id`,
        [list],
      )
    ).map((r) => String(r.id));
    if (ids.length === 0) return { conversations: 0, messages: 0, notes: 0 };
    const notes = await tx.query('DELETE FROM notes WHERE conversation_id = ANY($1::bigint[]) RETURNING id', [ids]);
    await deleteInboxRows(tx, ids);
    const messages = await tx.query('DELETE FROM messages WHERE conversation_id = ANY($1::bigint[]) RETURNING id', [ids]);
    const conversations = await tx.query('DELETE FROM conversations WHERE id = ANY($1::bigint[]) RETURNING id', [ids]);
    return { conversations: conversations.length, messages: messages.length, notes: notes.length };
  });
}

/** The inbox's rows of conversations (status history, CSAT answers): erased with them. */
async function deleteInboxRows(tx: SqlRunner, ids: readonly string[]): Promise<void> {
  await tx.query('DELETE FROM status_events WHERE conversation_id = ANY($1::bigint[])', [ids]);
  await tx.query('DELETE FROM csat_answers WHERE conversation_id = ANY($1::bigint[])', [ids]);
}

/** When each of these conversations was last forgotten (key `<channel>\0<account>\0<user>`), for the writer's tombstone check. */
export async function forgottenAt(db: SqlRunner, refs: readonly ConversationRef[]): Promise<Map<string, number>> {
  if (refs.length === 0) return new Map();
  const rows = await db.query<{ channel: string; account_id: string; user_id: string; at: string | number }>(
    `SELECT f.channel, f.account_id, f.user_id, extract(epoch from f.forgotten_at) * 1000 AS at
     FROM forgotten f JOIN (SELECT DISTINCT * FROM jsonb_to_recordset($1::jsonb) AS x(channel text, account_id text, user_id text)) x
     ON f.channel = x.channel AND f.account_id = x.account_id AND f.user_id = x.user_id`,
    [JSON.stringify(refs.map((r) => ({ channel: r.channel, account_id: r.account, user_id: r.user })))],
  );
  return new Map(rows.map((r) => [`${r.channel}\u0000${r.account_id}\u0000${r.user_id}`, Number(r.at)]));
}

export interface DeletionRequest {
  code: string;
  requestedBy: string;
  requestedAt: Date;
  completedAt: Date | null;
  result: (Erased & { redisKeys?: number }) | null;
}

/** Opens a tracked deletion request; returns its confirmation code (unguessable: it names a status page). */
export async function openDeletionRequest(db: SqlRunner, requestedBy: string, subject: Subject | readonly Subject[]): Promise<string> {
  const code = crypto.randomBytes(12).toString('base64url');
  await db.query('INSERT INTO deletion_requests (code, requested_by, subject) VALUES ($1, $2, $3)', [code, requestedBy, JSON.stringify(subject)]);
  return code;
}

export async function completeDeletionRequest(db: SqlRunner, code: string, result: Erased & { redisKeys: number }): Promise<void> {
  await db.query('UPDATE deletion_requests SET completed_at = now(), result = $2 WHERE code = $1', [code, JSON.stringify(result)]);
}

export async function deletionRequest(db: SqlRunner, code: string): Promise<DeletionRequest | null> {
  const r = (await db.query<Record<string, unknown>>('SELECT code, requested_by, requested_at, completed_at, result FROM deletion_requests WHERE code = $1', [code]))[0];
  if (!r) return null;
  return {
    code: String(r.code),
    requestedBy: String(r.requested_by),
    requestedAt: new Date(r.requested_at as string),
    completedAt: r.completed_at ? new Date(r.completed_at as string) : null,
    result: (r.result as DeletionRequest['result']) ?? null,
  };
}

const AT = 'coalesce(received_at, replied_at, platform_ts, created_at)';

/**
 * Deletes messages older than `cutoff`, `batch` rows per statement (each its own short
 * transaction), then the conversations left without messages, and tombstones older than the
 * dedupe horizon can no longer matter to. Returns how many messages it deleted.
 */
export async function purgeBefore(db: SqlClient, cutoff: Date, batch = 5_000, maxBatches = 1_000): Promise<{ messages: number; conversations: number }> {
  let messages = 0;
  for (let i = 0; i < maxBatches; i++) {
    const n = (await db.query(`DELETE FROM messages WHERE id IN (SELECT id FROM messages WHERE ${AT} < $1 LIMIT $2) RETURNING id`, [cutoff, batch])).length;
    messages += n;
    if (n < batch) break;
  }
  let conversations = 0;
  for (let i = 0; i < maxBatches; i++) {
    const ids = (await db.query<{ id: string | number }>('SELECT c.id FROM conversations c WHERE c.last_message_at < $1 AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = c.id) LIMIT $2', [cutoff, batch])).map((r) =>
      String(r.id),
    );
    if (ids.length === 0) break;
    await db.transaction(async (tx) => {
      await tx.query('DELETE FROM notes WHERE conversation_id = ANY($1::bigint[])', [ids]);
      await deleteInboxRows(tx, ids);
      await tx.query('DELETE FROM conversations WHERE id = ANY($1::bigint[])', [ids]);
    });
    conversations += ids.length;
    if (ids.length < batch) break;
  }
  await db.query("DELETE FROM forgotten WHERE forgotten_at < now() - interval '30 days'");
  return { messages, conversations };
}
