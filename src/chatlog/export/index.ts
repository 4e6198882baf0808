/**
 * Export of the chatlog for retraining: nlp.js corpus JSON, JSONL, CSV and Rasa NLU YAML,
 * streamed page by page, so a million messages take the memory of one page (plus the
 * dedupe set, see `TextSet`). Filters run in SQL; an admin's corrected intent wins over the
 * predicted one; user ids are pseudonymised unless raw ids are asked for; emails and phone
 * numbers can be redacted. `npm run export` and the admin API share `parseExportFilters`.
 */
import crypto from 'node:crypto';
import type { Writable } from 'node:stream';
import { postgresClient, type SqlClient, type SqlRunner } from '../sql';
import { ExportInputError, redactDeep, redactText, type ExportCounts, type ExportFilters, type ExportFormat, type ExportOptions } from './filters';
import { FORMATS, Output, TextSet, checkExport, type ExportRow } from './formats';

export * from './filters';
export { EXPORT_FORMATS, TextSet, csvRow, checkExport, parseExportFormat } from './formats';

const AT = 'coalesce(m.received_at, m.replied_at, m.platform_ts)';
const INTENT = 'coalesce(m.corrected_intent, m.intent)';
const iso = (col: string) => `to_char(m.${col} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS ${col}`;

/** The WHERE clause of the filters, with only the conditions in use (so the planner sees plain predicates). */
function whereOf(f: ExportFilters, format: ExportFormat, scope?: readonly string[], retentionDays?: number): { sql: string; params: unknown[] } {
  const params: unknown[] = [];
  const $ = (v: unknown) => `$${params.push(v)}`;
  const c = ['m.text IS NOT NULL'];
  if (f.direction !== 'all') c.push(`m.direction = ${$(f.direction)}`);
  if (scope) c.push(`(m.channel || ':' || m.account_id) = ANY(${$([...scope])}::text[])`);
  if (f.accounts) c.push(`(m.channel || ':' || m.account_id) = ANY(${$(f.accounts)}::text[])`);
  if (f.channels) c.push(`m.channel = ANY(${$(f.channels)}::text[])`);
  if (f.from) c.push(`${AT} >= ${$(f.from.toISOString())}::timestamptz`);
  if (retentionDays) c.push(`${AT} >= now() - ${$(retentionDays)}::int * interval '1 day'`);
  if (f.to) c.push(`${AT} < ${$(f.to.toISOString())}::timestamptz`);
  if (f.minScore !== undefined) c.push(`m.score >= ${$(f.minScore)}`);
  if (f.maxScore !== undefined) c.push(`m.score <= ${$(f.maxScore)}`);
  if (f.correctedOnly) c.push('m.corrected_intent IS NOT NULL');
  if (f.intents) c.push(`${INTENT} = ANY(${$(f.intents)}::text[])`);
  if (FORMATS[format].grouped) {
    // A predicted None is "not understood", not a label: only an admin's None teaches out-of-scope.
    c.push(`${INTENT} ~ '^[A-Za-z0-9_.-]{1,64}$'`, `(m.corrected_intent IS NOT NULL OR m.intent <> 'None')`);
  }
  return { sql: c.join(' AND '), params };
}

/** Keyset pages on messages.id: each page is its own short query, nothing is held open between them. */
async function byId(db: SqlRunner, w: { sql: string; params: unknown[] }, pageSize: number, each: (rows: ExportRow[]) => Promise<void>): Promise<void> {
  const n = w.params.length;
  const page = (after: string) =>
    db.query<ExportRow>(
      `SELECT m.id::text AS id, m.channel, m.account_id, c.user_id, m.direction, m.kind, m.text, m.intent, m.corrected_intent, m.score, m.intents,
              m.entities, m.sentiment, ${iso('platform_ts')}, ${iso('received_at')}, ${iso('replied_at')}
       FROM messages m JOIN conversations c ON c.id = m.conversation_id
       WHERE ${w.sql} AND m.id > $${n + 1}::bigint ORDER BY m.id LIMIT $${n + 2}`,
      [...w.params, after, pageSize],
    );
  await prefetching(page('0'), (rows) => (rows.length < pageSize ? undefined : page(rows[rows.length - 1]!.id)), each);
}

/** Runs the query of the next page while the current one is written: PostgreSQL and the writing overlap. */
async function prefetching(first: Promise<ExportRow[]>, next: (rows: ExportRow[]) => Promise<ExportRow[]> | undefined, each: (rows: ExportRow[]) => Promise<void>): Promise<void> {
  for (let pending: Promise<ExportRow[]> | undefined = first; pending; ) {
    const rows: ExportRow[] = await pending;
    pending = next(rows);
    pending?.catch(() => undefined); // if writing fails first, that error is the one reported
    if (rows.length) await each(rows);
  }
}

/**
 * The corpus formats write one block per intent, so rows come ordered by intent. There is
 * no index on the corrected-or-predicted intent, and keyset pages on (intent, id) would
 * re-sort the table for every page (measured: 0.25 s a page, 50 s for 1M rows); one
 * server-side cursor sorts once, in a read-only snapshot, and is fetched page by page.
 */
async function byIntent(db: SqlClient, w: { sql: string; params: unknown[] }, pageSize: number, each: (rows: ExportRow[]) => Promise<void>): Promise<void> {
  await db.transaction(async (tx) => {
    await tx.query('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY');
    await tx.query(`DECLARE chatlog_export NO SCROLL CURSOR FOR SELECT ${INTENT} AS intent, m.text FROM messages m WHERE ${w.sql} ORDER BY ${INTENT} COLLATE "C", m.id`, w.params);
    const page = () => tx.query<ExportRow>(`FETCH ${pageSize} FROM chatlog_export`);
    await prefetching(page(), (rows) => (rows.length < pageSize ? undefined : page()), each);
  });
}

/**
 * Streams the messages matching `filters` to `out` in `format`. `db` is a SqlClient (pg or
 * PGlite) or a PostgreSQL URL (opened and closed here). Respects backpressure; rejects with
 * ExportInputError before reading anything if the request is not possible, and with
 * ExportAbortedError if `out` closes early. On a failure after part of the export reached
 * `out`, `out` is destroyed (a truncated download must not look complete); before that,
 * `out` is left untouched so that the caller can still answer with an error.
 */
export async function exportMessages(db: SqlClient | string, filters: ExportFilters, format: ExportFormat, out: Writable, opts: ExportOptions = {}): Promise<ExportCounts> {
  checkExport(filters, format);
  const pageSize = opts.pageSize ?? 5_000;
  if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > 100_000) throw new ExportInputError([`pageSize must be an integer from 1 to 100000 (got ${pageSize})`]);
  const client = typeof db === 'string' ? postgresClient(db, () => undefined) : db;
  const output = new Output(out);
  try {
    const fmt = FORMATS[format];
    const secret = opts.secret ?? crypto.randomBytes(32);
    const pseudonyms = new Map<string, string>(); // an HMAC costs ~3 µs; at most 20,000 kept (~3 MB)
    const userOf = (r: ExportRow): string => {
      if (filters.rawIds) return r.user_id;
      // User ids are per account (PSIDs per page); Messenger's key is the one it had before channels, so pseudonyms stay stable.
      const key = r.channel === 'messenger' ? `${r.account_id}\u0000${r.user_id}` : `${r.channel}\u0000${r.account_id}\u0000${r.user_id}`;
      let p = pseudonyms.get(key);
      if (p === undefined) {
        p = `u_${crypto.createHmac('sha256', secret).update(key).digest('base64url').slice(0, 22)}`;
        if (pseudonyms.size >= 20_000) pseudonyms.clear();
        pseudonyms.set(key, p);
      }
      return p;
    };
    const seen = filters.dedupe ? new TextSet() : undefined;
    const counts: ExportCounts = { rows: 0, written: 0, duplicates: 0, skipped: 0 };
    let group: string | undefined; // the intent whose block is open
    await output.put(fmt.begin({ name: opts.name ?? `Chatlog export ${new Date().toISOString()}`, locale: opts.locale ?? 'en-US' }));
    const each = async (rows: ExportRow[]) => {
      for (const r of rows) {
        counts.rows++;
        let text = filters.redact ? redactText(r.text) : r.text;
        text = fmt.text(text);
        if (text.trim() === '') {
          counts.skipped++;
          continue;
        }
        if (seen && !seen.add(text)) {
          counts.duplicates++;
          continue;
        }
        counts.written++;
        if (fmt.group) {
          const intent = r.intent!;
          if (group !== intent) await output.put(fmt.group(intent, group === undefined));
          await output.put(fmt.item!(text, group !== intent));
          group = intent;
        } else {
          await output.put(fmt.line!(r, userOf(r), text, filters.redact ? redactDeep(r.entities) : r.entities));
        }
      }
      opts.onProgress?.(counts);
    };
    const where = whereOf(filters, format, opts.scope, opts.retentionDays);
    if (FORMATS[format].grouped) await byIntent(client, where, pageSize, each);
    else await byId(client, where, pageSize, each);
    await output.put(fmt.end(group !== undefined));
    if (opts.end === false) await output.flush();
    else await output.end();
    output.release();
    return counts;
  } catch (err) {
    output.fail(err);
    throw err;
  } finally {
    if (typeof db === 'string') await client.close();
  }
}
