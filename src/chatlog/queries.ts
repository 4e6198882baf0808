/**
 * Read queries over the chatlog, for the admin viewer and export. Every query takes the
 * caller's account scope (`scope`: account keys `<channel>:<account id>`; undefined = every
 * account) and applies it in SQL, so a caller can never see a conversation of an account it
 * was not granted.
 */
import { conversationKey } from '../channels/conversation';
import type { SqlRunner } from './sql';

/** SQL of "the row's account is in scope $n" (`alias`: the table alias with channel and account_id). */
export const inScope = (alias: string, n: number): string => `($${n}::text[] IS NULL OR (${alias}.channel || ':' || ${alias}.account_id) = ANY($${n}))`;

export interface ConversationFilter {
  /** Account scope of the caller (account keys); undefined means every account. */
  scope?: readonly string[];
  channel?: string;
  /** One account, as an account key `<channel>:<id>`. */
  account?: string;
  /** An inbox status, or `human` (waiting, assigned or snoozed). */
  status?: string;
  /** Conversations held by this agent. */
  agent?: string;
  intent?: string;
  /** Full-text search over message texts (words, any order). */
  q?: string;
  /** Only conversations with an inbound message below this confidence (or None). */
  lowConfidenceBelow?: number;
  from?: Date;
  to?: Date;
  cursor?: string;
  limit?: number;
}

export interface ConversationSummary {
  id: string;
  /** The conversation key (channels/conversation.ts): the id the admin API and the queue use. */
  key: string;
  channel: string;
  accountId: string;
  userId: string;
  status: string;
  firstMessageAt: Date;
  lastMessageAt: Date;
  messagesIn: number;
  messagesOut: number;
  lastText: string | null;
  lastIntent: string | null;
  statusChangedAt: Date | null;
  agent: string | null;
  waitingSince: Date | null;
  /** Who the user is (the platform's profile), when known. */
  name: string | null;
  avatarUrl: string | null;
}

const AT = 'coalesce(m.received_at, m.replied_at, m.platform_ts)';

function toSummary(r: Record<string, unknown>): ConversationSummary {
  const ref = { channel: r.channel as string, account: r.account_id as string, user: r.user_id as string };
  return {
    id: String(r.id),
    key: conversationKey(ref),
    channel: ref.channel,
    accountId: ref.account,
    userId: ref.user,
    status: r.status as string,
    firstMessageAt: new Date(r.first_message_at as string),
    lastMessageAt: new Date(r.last_message_at as string),
    messagesIn: Number(r.messages_in),
    messagesOut: Number(r.messages_out),
    lastText: (r.last_text as string | null) ?? null,
    lastIntent: (r.last_intent as string | null) ?? null,
    statusChangedAt: r.status_changed_at ? new Date(r.status_changed_at as string) : null,
    agent: (r.agent as string | null) ?? null,
    waitingSince: r.waiting_since ? new Date(r.waiting_since as string) : null,
    name: (r.display_name as string | null) ?? null,
    avatarUrl: (r.avatar_url as string | null) ?? null,
  };
}

export class BadCursorError extends Error {
  override readonly name = 'BadCursorError';
}

/** A row id PostgreSQL's bigint can hold: anything else matches no row (and must not reach SQL, which would fail). */
export const isRowId = (s: string): boolean => /^\d{1,19}$/.test(s) && BigInt(s) <= 9223372036854775807n;

/** A timestamptz as PostgreSQL writes it (`2026-01-02 10:11:12.345678+00`), with a real date and time. */
function isPgTime(s: string): boolean {
  const m = /^(\d{4})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)(\.\d{1,6})?[+-]\d\d(:?\d\d){0,2}$/.exec(s);
  if (!m) return false;
  const [y, mo, d, h, mi, sec] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  return mo >= 1 && mo <= 12 && d >= 1 && new Date(Date.UTC(y, mo - 1, d)).getUTCDate() === d && h <= 23 && mi <= 59 && sec <= 59;
}

function decodeCursor(cursor: string): [string, string] {
  try {
    const v = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    // Checked before SQL sees it: a cursor is client input, however it was made.
    if (Array.isArray(v) && typeof v[0] === 'string' && isPgTime(v[0]) && typeof v[1] === 'string' && isRowId(v[1])) return [v[0], v[1]];
  } catch {
    /* fall through */
  }
  throw new BadCursorError('cursor is not one this API returned');
}

/** Newest first, cursor-paged on (last_message_at, id). */
export async function listConversations(db: SqlRunner, f: ConversationFilter): Promise<{ items: ConversationSummary[]; nextCursor?: string }> {
  const limit = Math.min(200, Math.max(1, f.limit ?? 50));
  const [cAt, cId] = f.cursor ? decodeCursor(f.cursor) : [null, null];
  const rows = await db.query<Record<string, unknown>>(
    `SELECT c.id, c.channel, c.account_id, c.user_id, c.status, c.first_message_at, c.last_message_at, c.last_message_at::text AS at_text,
            c.messages_in, c.messages_out, c.last_text, c.last_intent, c.status_changed_at, c.agent,
            c.waiting_since, c.display_name, c.avatar_url
     FROM conversations c
     WHERE ${inScope('c', 1)}
       AND ($2::text IS NULL OR (c.channel || ':' || c.account_id) = $2)
       AND ($12::text IS NULL OR c.channel = $12)
       AND ($3::text IS NULL OR c.status = $3 OR ($3 = 'human' AND c.status IN ('waiting', 'assigned', 'snoozed')))
       AND ($13::text IS NULL OR c.agent = $13)
       AND ($4::timestamptz IS NULL OR c.last_message_at >= $4)
       AND ($5::timestamptz IS NULL OR c.first_message_at < $5)
       AND ($6::text IS NULL OR EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = c.id AND m.direction = 'in' AND coalesce(m.corrected_intent, m.intent) = $6))
       AND ($7::text IS NULL OR EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = c.id AND to_tsvector('simple', coalesce(m.text, '')) @@ plainto_tsquery('simple', $7)))
       AND ($8::timestamptz IS NULL OR (c.last_message_at, c.id) < ($8::timestamptz, $9::bigint))
       AND ($11::real IS NULL OR EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = c.id AND m.direction = 'in' AND m.corrected_intent IS NULL AND (m.intent = 'None' OR m.score < $11)))
     ORDER BY c.last_message_at DESC, c.id DESC
     LIMIT $10`,
    [f.scope ? [...f.scope] : null, f.account ?? null, f.status ?? null, f.from ?? null, f.to ?? null, f.intent ?? null, f.q?.trim() || null, cAt, cId, limit + 1, f.lowConfidenceBelow ?? null, f.channel ?? null, f.agent ?? null],
  );
  const items = rows.slice(0, limit).map(toSummary);
  const last = rows[limit - 1];
  return { items, ...(rows.length > limit && last ? { nextCursor: Buffer.from(JSON.stringify([last.at_text, String(last.id)])).toString('base64url') } : {}) };
}

export interface MessageView {
  id: string;
  mid: string;
  direction: 'in' | 'out';
  kind: string;
  text: string | null;
  payload: string | null;
  attachments: unknown;
  intent: string | null;
  score: number | null;
  intents: unknown;
  entities: unknown;
  sentiment: number | null;
  correctedIntent: string | null;
  correctedBy: string | null;
  author: string | null;
  error: string | null;
  replyToMid: string | null;
  platformTs: Date | null;
  receivedAt: Date | null;
  enqueuedAt: Date | null;
  startedAt: Date | null;
  repliedAt: Date | null;
  deliveredAt: Date | null;
  readAt: Date | null;
  failedAt: Date | null;
  nluMs: number | null;
  actionMs: number | null;
  sendMs: number | null;
  /** started_at − enqueued_at */
  queueWaitMs: number | null;
  /** replied_at − started_at */
  processingMs: number | null;
  /** replied_at − received_at */
  totalMs: number | null;
}

const camel = (s: string) => s.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
const ms = (a: string, b: string) => `round((extract(epoch from (m.${a} - m.${b})) * 1000)::numeric, 1)::float8`;

/** The chatlog id of a conversation, if it exists and is in the caller's scope. */
export async function conversationIdOf(db: SqlRunner, c: { channel: string; account: string; user: string }, scope?: readonly string[]): Promise<string | null> {
  const r = await db.query<{ id: string | number }>(`SELECT id FROM conversations c WHERE channel = $1 AND account_id = $2 AND user_id = $3 AND ${inScope('c', 4)}`, [c.channel, c.account, c.user, scope ? [...scope] : null]);
  return r[0] ? String(r[0].id) : null;
}

/** Sets (or clears, with null) a message's corrected intent. False if the message is not an inbound one in scope. */
export async function correctIntent(db: SqlRunner, messageId: string, intent: string | null, by: string, scope?: readonly string[]): Promise<boolean> {
  if (!isRowId(messageId)) return false;
  const r = await db.query<{ id: string | number }>(
    `UPDATE messages m SET corrected_intent = $2, corrected_by = $3, corrected_at = now()
     WHERE id = $1 AND direction = 'in' AND ${inScope('m', 4)} RETURNING id`,
    [messageId, intent, by, scope ? [...scope] : null],
  );
  return r.length === 1;
}

export interface Note {
  id: string;
  author: string;
  text: string;
  createdAt: Date;
}

export async function addNote(db: SqlRunner, conversationId: string, author: string, text: string): Promise<Note> {
  const r = await db.query<Record<string, unknown>>('INSERT INTO notes (conversation_id, author, text) VALUES ($1, $2, $3) RETURNING id, author, text, created_at', [conversationId, author, text]);
  return noteOf(r[0]!);
}

export async function notesOf(db: SqlRunner, conversationId: string): Promise<Note[]> {
  return (await db.query<Record<string, unknown>>('SELECT id, author, text, created_at FROM notes WHERE conversation_id = $1 ORDER BY created_at, id', [conversationId])).map(noteOf);
}

const noteOf = (r: Record<string, unknown>): Note => ({ id: String(r.id), author: r.author as string, text: r.text as string, createdAt: new Date(r.created_at as string) });

/** Messages written after `afterId`, in the caller's scope, for the live view. */
export type LiveMessage = MessageView & { channel: string; accountId: string; userId: string; conversationId: string };

const LIVE_SELECT = `SELECT m.id, m.channel, m.account_id, c.user_id, m.conversation_id, m.direction, m.kind, m.text, m.author, m.intent, m.score, m.corrected_intent, m.error,
            coalesce(m.received_at, m.replied_at, m.platform_ts) AS at
     FROM messages m JOIN conversations c ON c.id = m.conversation_id`;

async function liveRows(db: SqlRunner, where: string, params: unknown[]): Promise<LiveMessage[]> {
  const rows = await db.query<Record<string, unknown>>(`${LIVE_SELECT} ${where}`, params);
  return rows.map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [camel(k), k === 'id' || k === 'conversation_id' ? String(v) : v]))) as never;
}

export const messagesAfter = (db: SqlRunner, afterId: string, limit = 500): Promise<LiveMessage[]> => liveRows(db, 'WHERE m.id > $1 ORDER BY m.id LIMIT $2', [afterId, limit]);

/** The rows among `ids` that exist (committed) now. */
export const messagesWithIds = (db: SqlRunner, ids: readonly string[]): Promise<LiveMessage[]> => liveRows(db, 'WHERE m.id = ANY($1::bigint[]) ORDER BY m.id', [[...ids]]);

export async function lastMessageId(db: SqlRunner): Promise<string> {
  const r = await db.query<{ id: string | number | null }>('SELECT max(id) AS id FROM messages');
  return String(r[0]?.id ?? 0);
}

/** One conversation's messages in conversation order, or null if it is not in the caller's scope. */
export async function conversationMessages(db: SqlRunner, conversationId: string, scope?: readonly string[]): Promise<{ conversation: ConversationSummary; messages: MessageView[] } | null> {
  if (!isRowId(conversationId)) return null;
  const conv = await db.query<Record<string, unknown>>(`SELECT * FROM conversations c WHERE id = $1 AND ${inScope('c', 2)}`, [conversationId, scope ? [...scope] : null]);
  const c = conv[0];
  if (!c) return null;
  const rows = await db.query<Record<string, unknown>>(
    `SELECT m.id, m.mid, m.direction, m.kind, m.text, m.payload, m.attachments, m.intent, m.score, m.intents, m.entities, m.sentiment,
            m.corrected_intent, m.corrected_by, m.author, m.error, m.reply_to_mid, m.platform_ts, m.received_at, m.enqueued_at, m.started_at, m.replied_at,
            m.delivered_at, m.read_at, m.failed_at, m.nlu_ms, m.action_ms, m.send_ms,
            ${ms('started_at', 'enqueued_at')} AS queue_wait_ms, ${ms('replied_at', 'started_at')} AS processing_ms, ${ms('replied_at', 'received_at')} AS total_ms
     FROM messages m WHERE m.conversation_id = $1
     ORDER BY coalesce(m.platform_ts, m.replied_at, m.created_at), m.id`,
    [conversationId],
  );
  const messages = rows.map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [camel(k), k === 'id' ? String(v) : v])) as unknown as MessageView);
  return {
    conversation: toSummary(c),
    messages,
  };
}

export interface Stats {
  perMinute: { minute: Date; in: number; out: number }[];
  processing: { count: number; avgMs: number | null; p50Ms: number | null; p95Ms: number | null; p99Ms: number | null };
  queueWait: { avgMs: number | null; p50Ms: number | null; p95Ms: number | null; p99Ms: number | null };
  /** Share of classified inbound messages whose intent is None (below the confidence threshold). */
  fallbackRate: number | null;
  intents: { intent: string; count: number }[];
  /** Share of replies the Send API rejected. */
  sendFailureRate: number | null;
}

const num = (v: unknown) => (v === null || v === undefined ? null : Number(v));

export async function stats(db: SqlRunner, range: { from: Date; to: Date; scope?: readonly string[]; channel?: string }): Promise<Stats> {
  const where = `${AT} >= $1 AND ${AT} < $2 AND ${inScope('m', 3)} AND ($4::text IS NULL OR m.channel = $4)`;
  const params = [range.from, range.to, range.scope ? [...range.scope] : null, range.channel ?? null];
  const [perMinute, timing, intents, sends] = await Promise.all([
    db.query<Record<string, unknown>>(
      `SELECT date_trunc('minute', ${AT}) AS minute, count(*) FILTER (WHERE m.direction = 'in') AS n_in, count(*) FILTER (WHERE m.direction = 'out') AS n_out FROM messages m WHERE ${where} GROUP BY 1 ORDER BY 1`,
      params,
    ),
    db.query<Record<string, unknown>>(
      `SELECT count(t.total) AS n, avg(t.total) AS avg_total, percentile_cont(0.5) WITHIN GROUP (ORDER BY t.total) AS p50_total,
              percentile_cont(0.95) WITHIN GROUP (ORDER BY t.total) AS p95_total, percentile_cont(0.99) WITHIN GROUP (ORDER BY t.total) AS p99_total,
              avg(t.wait) AS avg_wait, percentile_cont(0.5) WITHIN GROUP (ORDER BY t.wait) AS p50_wait,
              percentile_cont(0.95) WITHIN GROUP (ORDER BY t.wait) AS p95_wait, percentile_cont(0.99) WITHIN GROUP (ORDER BY t.wait) AS p99_wait,
              count(*) FILTER (WHERE t.intent IS NOT NULL) AS classified, count(*) FILTER (WHERE t.intent = 'None') AS fallbacks
       FROM (SELECT extract(epoch from (m.replied_at - m.received_at)) * 1000 AS total, extract(epoch from (m.started_at - m.enqueued_at)) * 1000 AS wait, m.intent
             FROM messages m WHERE m.direction = 'in' AND ${where}) t`,
      params,
    ),
    db.query<Record<string, unknown>>(
      `SELECT coalesce(m.corrected_intent, m.intent) AS intent, count(*) AS n FROM messages m WHERE m.direction = 'in' AND coalesce(m.corrected_intent, m.intent) IS NOT NULL AND ${where} GROUP BY 1 ORDER BY 2 DESC, 1`,
      params,
    ),
    db.query<Record<string, unknown>>(`SELECT count(*) AS n, count(*) FILTER (WHERE m.error IS NOT NULL) AS failed FROM messages m WHERE m.direction = 'out' AND m.reply_to_mid IS NOT NULL AND ${where}`, params),
  ]);
  const t = timing[0] ?? {};
  const s = sends[0] ?? {};
  const classified = Number(t.classified ?? 0);
  return {
    perMinute: perMinute.map((r) => ({ minute: new Date(r.minute as string), in: Number(r.n_in), out: Number(r.n_out) })),
    processing: { count: Number(t.n ?? 0), avgMs: num(t.avg_total), p50Ms: num(t.p50_total), p95Ms: num(t.p95_total), p99Ms: num(t.p99_total) },
    queueWait: { avgMs: num(t.avg_wait), p50Ms: num(t.p50_wait), p95Ms: num(t.p95_wait), p99Ms: num(t.p99_wait) },
    fallbackRate: classified ? Number(t.fallbacks) / classified : null,
    intents: intents.map((r) => ({ intent: r.intent as string, count: Number(r.n) })),
    sendFailureRate: Number(s.n ?? 0) ? Number(s.failed) / Number(s.n) : null,
  };
}
