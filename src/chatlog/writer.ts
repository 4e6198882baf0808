/**
 * Writes a batch of chatlog records in one transaction, idempotently: a message is keyed
 * by (channel, account_id, mid), so a record delivered twice (a consumer that died before
 * its ack) fills in what was missing and adds no row. Counters move only for rows really
 * inserted. Records appended before channels existed (pageId/userId) are read as Messenger's.
 */
import { upgradeLegacy } from '../channels/conversation';
import { ERASURE_LOCK, forgottenAt } from './forget';
import { writeCsat, writeProfiles, writeStatuses } from './inbox-writer';
import type { ChatlogRecord, CsatRecord, MessageRecord, ProfileRecord, ReceiptRecord, StatusRecord } from './records';
import { pgJson, type SqlClient, type SqlRunner } from './sql';

export interface WriteResult {
  inserted: number;
  updated: number;
  receipts: number;
  statuses: number;
  /** Records of conversations erased on request after the record was made: dropped. */
  forgotten: number;
}

const MSG_COLUMNS: [keyof MessageRecord, string, string][] = [
  // record field, column, recordset type
  ['text', 'text', 'text'],
  ['payload', 'payload', 'text'],
  ['attachments', 'attachments', 'jsonb'],
  ['intent', 'intent', 'text'],
  ['score', 'score', 'real'],
  ['intents', 'intents', 'jsonb'],
  ['entities', 'entities', 'jsonb'],
  ['sentiment', 'sentiment', 'real'],
  ['error', 'error', 'text'],
  ['author', 'author', 'text'],
  ['replyToMid', 'reply_to_mid', 'text'],
  ['replyIndex', 'reply_index', 'int'],
  ['nluMs', 'nlu_ms', 'real'],
  ['actionMs', 'action_ms', 'real'],
  ['sendMs', 'send_ms', 'real'],
];
const TIME_COLUMNS: [keyof MessageRecord, string][] = [
  ['platformTs', 'platform_ts'],
  ['receivedAt', 'received_at'],
  ['enqueuedAt', 'enqueued_at'],
  ['startedAt', 'started_at'],
  ['repliedAt', 'replied_at'],
];

const INSERT_MESSAGES = `
WITH x AS (
  SELECT * FROM jsonb_to_recordset($1::jsonb) AS x(channel text, account_id text, user_id text, mid text, direction text, kind text,
    ${MSG_COLUMNS.map(([, c, t]) => `${c} ${t}`).join(', ')}, ${TIME_COLUMNS.map(([, c]) => `${c} float8`).join(', ')})
)
INSERT INTO messages (channel, account_id, mid, conversation_id, direction, kind, ${MSG_COLUMNS.map(([, c]) => c).join(', ')}, ${TIME_COLUMNS.map(([, c]) => c).join(', ')})
SELECT x.channel, x.account_id, x.mid, c.id, x.direction, x.kind, ${MSG_COLUMNS.map(([, c]) => `x.${c}`).join(', ')},
  ${TIME_COLUMNS.map(([, c]) => `to_timestamp(x.${c} / 1000.0)`).join(', ')}
FROM x JOIN conversations c ON c.channel = x.channel AND c.account_id = x.account_id AND c.user_id = x.user_id
ORDER BY x.channel, x.account_id, x.mid
ON CONFLICT (channel, account_id, mid) DO UPDATE SET
  -- A row first written from a confirmation (an echo, a WhatsApp status: no author, its kind a
  -- guess) takes the kind the sender itself recorded.
  kind = CASE WHEN messages.author IS NULL AND excluded.author IS NOT NULL THEN excluded.kind ELSE messages.kind END,
  ${[...MSG_COLUMNS.map(([, c]) => c), ...TIME_COLUMNS.map(([, c]) => c)].map((c) => `${c} = coalesce(messages.${c}, excluded.${c})`).join(',\n  ')}
RETURNING conversation_id, direction, (xmax = 0) AS inserted`;

const UPSERT_CONVERSATIONS = `
INSERT INTO conversations (channel, account_id, user_id, first_message_at, last_message_at)
SELECT channel, account_id, user_id, to_timestamp(min(at) / 1000.0), to_timestamp(max(at) / 1000.0)
FROM jsonb_to_recordset($1::jsonb) AS x(channel text, account_id text, user_id text, at float8)
GROUP BY channel, account_id, user_id
ORDER BY channel, account_id, user_id
ON CONFLICT (channel, account_id, user_id) DO UPDATE SET
  first_message_at = least(conversations.first_message_at, excluded.first_message_at),
  last_message_at = greatest(conversations.last_message_at, excluded.last_message_at)
RETURNING id, channel, account_id, user_id`;

const UPDATE_COUNTERS = `
UPDATE conversations c SET messages_in = c.messages_in + d.n_in, messages_out = c.messages_out + d.n_out,
  last_text = coalesce(d.last_text, c.last_text), last_intent = coalesce(d.last_intent, c.last_intent)
FROM jsonb_to_recordset($1::jsonb) AS d(id bigint, n_in int, n_out int, last_text text, last_intent text)
WHERE c.id = d.id`;

// A watermark covers every outbound message sent before it; reading implies delivery.
const APPLY_WATERMARKS = `
WITH r AS (
  SELECT channel, account_id, user_id, kind, to_timestamp(max(watermark) / 1000.0) AS at
  FROM jsonb_to_recordset($1::jsonb) AS r(channel text, account_id text, user_id text, kind text, watermark float8)
  GROUP BY channel, account_id, user_id, kind
)
UPDATE messages m SET
  delivered_at = coalesce(m.delivered_at, r.at),
  read_at = CASE WHEN r.kind = 'read' THEN coalesce(m.read_at, r.at) ELSE m.read_at END
FROM r JOIN conversations c ON c.channel = r.channel AND c.account_id = r.account_id AND c.user_id = r.user_id
WHERE m.conversation_id = c.id AND m.direction = 'out' AND coalesce(m.replied_at, m.platform_ts) <= r.at
  AND (m.delivered_at IS NULL OR (r.kind = 'read' AND m.read_at IS NULL))`;

// Receipts naming messages (WhatsApp statuses): read implies delivered; failed keeps its reason.
// One row of r per message: an UPDATE joined to several rows of one target applies only one of
// them, and a batch often holds a message's delivered and read statuses together.
const APPLY_MESSAGE_RECEIPTS = `
WITH r AS (
  SELECT channel, account_id, mid,
    to_timestamp(min(at) FILTER (WHERE kind IN ('delivery', 'read')) / 1000.0) AS delivered,
    to_timestamp(min(at) FILTER (WHERE kind = 'read') / 1000.0) AS read,
    to_timestamp(min(at) FILTER (WHERE kind = 'failed') / 1000.0) AS failed,
    min(error) FILTER (WHERE kind = 'failed') AS error
  FROM jsonb_to_recordset($1::jsonb) AS r(channel text, account_id text, mid text, kind text, at float8, error text)
  GROUP BY channel, account_id, mid
)
UPDATE messages m SET
  delivered_at = coalesce(m.delivered_at, r.delivered),
  read_at = coalesce(m.read_at, r.read),
  failed_at = coalesce(m.failed_at, r.failed),
  error = coalesce(m.error, r.error)
FROM r
WHERE m.channel = r.channel AND m.account_id = r.account_id AND m.mid = r.mid AND m.direction = 'out'`;

/** Merges records of the same message (worker and echo) so one statement touches each row once. */
function mergeMessages(records: MessageRecord[]): MessageRecord[] {
  const byKey = new Map<string, MessageRecord>();
  for (const r of records) {
    const key = `${r.channel}\u0000${r.account}\u0000${r.mid}`;
    const prev = byKey.get(key);
    if (!prev) {
      byKey.set(key, { ...r });
      continue;
    }
    // The sender's own record (it has an author) knows the kind; a confirmation's is a guess.
    if (prev.author === undefined && r.author !== undefined) prev.kind = r.kind;
    for (const [k, v] of Object.entries(r)) if (v !== undefined && (prev as unknown as Record<string, unknown>)[k] === undefined) (prev as unknown as Record<string, unknown>)[k] = v;
  }
  return [...byKey.values()];
}

function row(r: MessageRecord): Record<string, unknown> {
  const out: Record<string, unknown> = { channel: r.channel, account_id: r.account, user_id: r.user, mid: r.mid, direction: r.direction, kind: r.kind };
  for (const [f, c] of MSG_COLUMNS) if (r[f] !== undefined) out[c] = r[f];
  for (const [f, c] of TIME_COLUMNS) if (r[f] !== undefined) out[c] = r[f];
  return out;
}

const timeOf = (r: MessageRecord) => r.platformTs ?? r.repliedAt ?? r.receivedAt ?? Date.now();

function ensureAccounts(tx: SqlRunner, records: { channel: string; account: string }[]): Promise<unknown> {
  return tx.query('INSERT INTO accounts (channel, id) SELECT DISTINCT channel, id FROM jsonb_to_recordset($1::jsonb) AS x(channel text, id text) ORDER BY 1, 2 ON CONFLICT DO NOTHING', [
    JSON.stringify(records.map((r) => ({ channel: r.channel, id: r.account }))),
  ]);
}

const conv = (r: { channel: string; account: string; user: string }) => ({ channel: r.channel, account_id: r.account, user_id: r.user });

async function writeMessages(tx: SqlRunner, messages: MessageRecord[]): Promise<{ inserted: number; updated: number }> {
  await ensureAccounts(tx, messages);
  const conversations = await tx.query<{ id: string | number; channel: string; account_id: string; user_id: string }>(UPSERT_CONVERSATIONS, [JSON.stringify(messages.map((m) => ({ ...conv(m), at: timeOf(m) })))]);
  // pg returns bigint as a string, PGlite as a number: keys are strings here.
  const result = await tx.query<{ conversation_id: string | number; direction: string; inserted: boolean }>(INSERT_MESSAGES, [pgJson(messages.map(row))]);
  const counters = new Map<string, { id: string; n_in: number; n_out: number }>();
  let inserted = 0;
  for (const r of result) {
    if (!r.inserted) continue;
    inserted++;
    const id = String(r.conversation_id);
    const c = counters.get(id) ?? { id, n_in: 0, n_out: 0 };
    if (r.direction === 'in') c.n_in++;
    else c.n_out++;
    counters.set(id, c);
  }
  if (counters.size) {
    // The newest inbound text and intent of each conversation in this batch, for the list view.
    const latest = new Map<string, MessageRecord>();
    for (const m of messages) {
      if (m.direction !== 'in' || m.text === undefined) continue;
      const k = `${m.channel}\u0000${m.account}\u0000${m.user}`;
      if (!latest.has(k) || timeOf(latest.get(k)!) <= timeOf(m)) latest.set(k, m);
    }
    const updates = conversations
      .filter((c) => counters.has(String(c.id)))
      .map((c) => {
        const l = latest.get(`${c.channel}\u0000${c.account_id}\u0000${c.user_id}`);
        return { ...counters.get(String(c.id))!, last_text: l?.text?.slice(0, 500) ?? null, last_intent: l?.intent ?? null };
      });
    await tx.query(UPDATE_COUNTERS, [pgJson(updates)]);
  }
  return { inserted, updated: result.length - inserted };
}

/** When a record happened, as far as erasure is concerned (a record made before its conversation was forgotten is dropped). */
const whenOf = (r: ChatlogRecord): number => (r.t === 'msg' ? timeOf(r) : r.t === 'receipt' ? (r.at ?? r.watermark ?? Date.now()) : r.at);

export async function writeBatch(db: SqlClient, batch: readonly ChatlogRecord[]): Promise<WriteResult> {
  const upgraded = batch.map((r) => upgradeLegacy(r as ChatlogRecord & { pageId?: string; userId?: string }) as ChatlogRecord);
  return db.transaction(async (tx) => {
    // Shared with other writers, exclusive against an erasure: a batch either commits before
    // an erasure starts, or sees its tombstone.
    await tx.query('SELECT pg_advisory_xact_lock_shared($1)', [ERASURE_LOCK]);
    const tombstones = await forgottenAt(tx, upgraded);
    const records = tombstones.size ? upgraded.filter((r) => !(whenOf(r) <= (tombstones.get(`${r.channel}\u0000${r.account}\u0000${r.user}`) ?? -Infinity))) : upgraded;
    const messages = mergeMessages(records.filter((r): r is MessageRecord => r.t === 'msg'));
    const receipts = records.filter((r): r is ReceiptRecord => r.t === 'receipt');
    const statuses = records.filter((r): r is StatusRecord => r.t === 'status');
    const csat = records.filter((r): r is CsatRecord => r.t === 'csat');
    const profiles = records.filter((r): r is ProfileRecord => r.t === 'profile');
    const watermarks = receipts.filter((r) => r.watermark !== undefined);
    const byMessage = receipts.filter((r) => r.watermark === undefined).flatMap((r) => (r.mids ?? []).map((mid) => ({ channel: r.channel, account_id: r.account, mid, kind: r.kind, at: r.at ?? Date.now(), error: r.error ?? null })));
    const m = messages.length ? await writeMessages(tx, messages) : { inserted: 0, updated: 0 };
    if (statuses.length) {
      await ensureAccounts(tx, statuses);
      await writeStatuses(tx, statuses);
    }
    if (profiles.length) {
      await ensureAccounts(tx, profiles);
      await writeProfiles(tx, profiles);
    }
    // After the messages and statuses of the batch: the answer's conversation exists by then.
    if (csat.length) await writeCsat(tx, csat);
    if (watermarks.length) await tx.query(APPLY_WATERMARKS, [JSON.stringify(watermarks.map((r) => ({ ...conv(r), kind: r.kind, watermark: r.watermark })))]);
    if (byMessage.length) await tx.query(APPLY_MESSAGE_RECEIPTS, [JSON.stringify(byMessage)]);
    return { ...m, receipts: receipts.length, statuses: statuses.length, forgotten: upgraded.length - records.length };
  });
}
