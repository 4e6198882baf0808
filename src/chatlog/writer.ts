/**
 * Writes a batch of chatlog records in one transaction, idempotently: a message is keyed
 * by (page_id, mid), so a record delivered twice (a consumer that died before its ack)
 * fills in what was missing and adds no row. Counters move only for rows really inserted.
 */
import type { ChatlogRecord, MessageRecord, ReceiptRecord, StatusRecord } from './records';
import type { SqlClient, SqlRunner } from './sql';

export interface WriteResult {
  inserted: number;
  updated: number;
  receipts: number;
  statuses: number;
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
  SELECT * FROM jsonb_to_recordset($1::jsonb) AS x(page_id text, user_id text, mid text, direction text, kind text,
    ${MSG_COLUMNS.map(([, c, t]) => `${c} ${t}`).join(', ')}, ${TIME_COLUMNS.map(([, c]) => `${c} float8`).join(', ')})
)
INSERT INTO messages (page_id, mid, conversation_id, direction, kind, ${MSG_COLUMNS.map(([, c]) => c).join(', ')}, ${TIME_COLUMNS.map(([, c]) => c).join(', ')})
SELECT x.page_id, x.mid, c.id, x.direction, x.kind, ${MSG_COLUMNS.map(([, c]) => `x.${c}`).join(', ')},
  ${TIME_COLUMNS.map(([, c]) => `to_timestamp(x.${c} / 1000.0)`).join(', ')}
FROM x JOIN conversations c ON c.page_id = x.page_id AND c.user_id = x.user_id
ORDER BY x.page_id, x.mid
ON CONFLICT (page_id, mid) DO UPDATE SET
  ${[...MSG_COLUMNS.map(([, c]) => c), ...TIME_COLUMNS.map(([, c]) => c)].map((c) => `${c} = coalesce(messages.${c}, excluded.${c})`).join(',\n  ')}
RETURNING conversation_id, direction, (xmax = 0) AS inserted`;

const UPSERT_CONVERSATIONS = `
INSERT INTO conversations (page_id, user_id, first_message_at, last_message_at)
SELECT page_id, user_id, to_timestamp(min(at) / 1000.0), to_timestamp(max(at) / 1000.0)
FROM jsonb_to_recordset($1::jsonb) AS x(page_id text, user_id text, at float8)
GROUP BY page_id, user_id
ORDER BY page_id, user_id
ON CONFLICT (page_id, user_id) DO UPDATE SET
  first_message_at = least(conversations.first_message_at, excluded.first_message_at),
  last_message_at = greatest(conversations.last_message_at, excluded.last_message_at)
RETURNING id, page_id, user_id`;

const UPDATE_COUNTERS = `
UPDATE conversations c SET messages_in = c.messages_in + d.n_in, messages_out = c.messages_out + d.n_out,
  last_text = coalesce(d.last_text, c.last_text), last_intent = coalesce(d.last_intent, c.last_intent)
FROM jsonb_to_recordset($1::jsonb) AS d(id bigint, n_in int, n_out int, last_text text, last_intent text)
WHERE c.id = d.id`;

// A watermark covers every outbound message sent before it; reading implies delivery.
const APPLY_RECEIPTS = `
WITH r AS (
  SELECT page_id, user_id, kind, to_timestamp(max(watermark) / 1000.0) AS at
  FROM jsonb_to_recordset($1::jsonb) AS r(page_id text, user_id text, kind text, watermark float8)
  GROUP BY page_id, user_id, kind
)
UPDATE messages m SET
  delivered_at = coalesce(m.delivered_at, r.at),
  read_at = CASE WHEN r.kind = 'read' THEN coalesce(m.read_at, r.at) ELSE m.read_at END
FROM r JOIN conversations c ON c.page_id = r.page_id AND c.user_id = r.user_id
WHERE m.conversation_id = c.id AND m.direction = 'out' AND coalesce(m.replied_at, m.platform_ts) <= r.at
  AND (m.delivered_at IS NULL OR (r.kind = 'read' AND m.read_at IS NULL))`;

// The latest change per conversation wins; an older record delivered late changes nothing.
const APPLY_STATUS = `
INSERT INTO conversations (page_id, user_id, status, status_changed_at, status_cause, agent)
SELECT DISTINCT ON (page_id, user_id) page_id, user_id, status, to_timestamp(at / 1000.0), cause, agent
FROM jsonb_to_recordset($1::jsonb) AS s(page_id text, user_id text, status text, at float8, cause text, agent text)
ORDER BY page_id, user_id, at DESC
ON CONFLICT (page_id, user_id) DO UPDATE SET status = excluded.status, status_changed_at = excluded.status_changed_at,
  status_cause = excluded.status_cause, agent = excluded.agent
WHERE conversations.status_changed_at IS NULL OR conversations.status_changed_at <= excluded.status_changed_at`;

/** Merges records of the same message (worker and echo) so one statement touches each row once. */
function mergeMessages(records: MessageRecord[]): MessageRecord[] {
  const byKey = new Map<string, MessageRecord>();
  for (const r of records) {
    const key = `${r.pageId}\u0000${r.mid}`;
    const prev = byKey.get(key);
    if (!prev) byKey.set(key, { ...r });
    else for (const [k, v] of Object.entries(r)) if (v !== undefined && (prev as unknown as Record<string, unknown>)[k] === undefined) (prev as unknown as Record<string, unknown>)[k] = v;
  }
  return [...byKey.values()];
}

function row(r: MessageRecord): Record<string, unknown> {
  const out: Record<string, unknown> = { page_id: r.pageId, user_id: r.userId, mid: r.mid, direction: r.direction, kind: r.kind };
  for (const [f, c] of MSG_COLUMNS) if (r[f] !== undefined) out[c] = r[f];
  for (const [f, c] of TIME_COLUMNS) if (r[f] !== undefined) out[c] = r[f];
  return out;
}

const timeOf = (r: MessageRecord) => r.platformTs ?? r.repliedAt ?? r.receivedAt ?? Date.now();

function ensurePages(tx: SqlRunner, records: { pageId: string }[]): Promise<unknown> {
  return tx.query('INSERT INTO pages (id) SELECT DISTINCT page_id FROM jsonb_to_recordset($1::jsonb) AS x(page_id text) ORDER BY 1 ON CONFLICT DO NOTHING', [JSON.stringify(records.map((r) => ({ page_id: r.pageId })))]);
}

async function writeMessages(tx: SqlRunner, messages: MessageRecord[]): Promise<{ inserted: number; updated: number }> {
  await ensurePages(tx, messages);
  const conversations = await tx.query<{ id: string | number; page_id: string; user_id: string }>(UPSERT_CONVERSATIONS, [
    JSON.stringify(messages.map((m) => ({ page_id: m.pageId, user_id: m.userId, at: timeOf(m) }))),
  ]);
  // pg returns bigint as a string, PGlite as a number: keys are strings here.
  const result = await tx.query<{ conversation_id: string | number; direction: string; inserted: boolean }>(INSERT_MESSAGES, [JSON.stringify(messages.map(row))]);
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
      const k = `${m.pageId}:${m.userId}`;
      if (!latest.has(k) || timeOf(latest.get(k)!) <= timeOf(m)) latest.set(k, m);
    }
    const updates = conversations.filter((c) => counters.has(String(c.id))).map((c) => {
      const l = latest.get(`${c.page_id}:${c.user_id}`);
      return { ...counters.get(String(c.id))!, last_text: l?.text?.slice(0, 500) ?? null, last_intent: l?.intent ?? null };
    });
    await tx.query(UPDATE_COUNTERS, [JSON.stringify(updates)]);
  }
  return { inserted, updated: result.length - inserted };
}

export async function writeBatch(db: SqlClient, records: readonly ChatlogRecord[]): Promise<WriteResult> {
  const messages = mergeMessages(records.filter((r): r is MessageRecord => r.t === 'msg'));
  const receipts = records.filter((r): r is ReceiptRecord => r.t === 'receipt');
  const statuses = records.filter((r): r is StatusRecord => r.t === 'status');
  return db.transaction(async (tx) => {
    const m = messages.length ? await writeMessages(tx, messages) : { inserted: 0, updated: 0 };
    if (statuses.length) {
      await ensurePages(tx, statuses);
      await tx.query(APPLY_STATUS, [JSON.stringify(statuses.map((r) => ({ page_id: r.pageId, user_id: r.userId, status: r.status, at: r.at, cause: r.cause, agent: r.agent ?? null })))]);
    }
    if (receipts.length) {
      await tx.query(APPLY_RECEIPTS, [JSON.stringify(receipts.map((r) => ({ page_id: r.pageId, user_id: r.userId, kind: r.kind, watermark: r.watermark })))]);
    }
    return { ...m, receipts: receipts.length, statuses: statuses.length };
  });
}
