/**
 * Export of the chatlog for retraining: nlp.js corpus JSON, JSONL, CSV and Rasa NLU YAML,
 * streamed page by page, so a million messages take the memory of one page (plus the
 * dedupe set, see `TextSet`). Filters run in SQL; an admin's corrected intent wins over the
 * predicted one; user ids are pseudonymised unless raw ids are asked for; emails and phone
 * numbers can be redacted. `npm run export` and the admin API share `parseExportFilters`.
 */
import crypto from 'node:crypto';
import { finished } from 'node:stream/promises';
import type { Writable } from 'node:stream';
import { postgresClient, type SqlClient, type SqlRunner } from './sql';

export type ExportFormat = 'nlpjs' | 'jsonl' | 'csv' | 'rasa';

export interface ExportFilters {
  /** Messages at or after `from` and before `to` (received, else replied, else sent). */
  from?: Date;
  to?: Date;
  /** Facebook page ids. */
  pages?: string[];
  /** Range of the predicted intent's score, both ends included; messages without a score are left out. */
  minScore?: number;
  maxScore?: number;
  correctedOnly: boolean;
  /** Intent after correction (the corrected intent wins). */
  intents?: string[];
  /** `in` (default; the only one the corpus formats take), `out` or `all`. */
  direction: 'in' | 'out' | 'all';
  /** Write each text once (default). */
  dedupe: boolean;
  /** Keep Facebook's user ids instead of pseudonyms. */
  rawIds: boolean;
  /** Replace emails and phone numbers in texts and entities by `[email]` / `[phone]`. */
  redact: boolean;
}

export interface ExportOptions {
  /** The caller's page scope (an admin's granted pages); undefined = every page. */
  scope?: readonly string[];
  /** HMAC key of the user pseudonyms; by default a random one per export, so two exports cannot be joined. */
  secret?: string | Buffer;
  /** Rows fetched per query. */
  pageSize?: number;
  /** `name` and `locale` of an nlp.js corpus. */
  name?: string;
  locale?: string;
  /** End `out` when done and wait until it has flushed (default true; the CLI keeps stdout open). */
  end?: boolean;
}

export interface ExportCounts {
  /** Rows that matched the filters. */
  rows: number;
  written: number;
  duplicates: number;
  /** Texts that are blank once trimmed. */
  skipped: number;
}

export class ExportInputError extends Error {
  override readonly name = 'ExportInputError';
  constructor(readonly problems: readonly string[]) {
    super(`bad export request: ${problems.join('; ')}`);
  }
}

/** The output closed (client gone, broken pipe) before the export finished. */
export class ExportAbortedError extends Error {
  override readonly name = 'ExportAbortedError';
}

const INTENT_NAME = /^[A-Za-z0-9_.-]{1,64}$/; // as the corpus accepts them (src/nlu/corpus.ts)
const PAGE_ID = /^[A-Za-z0-9_-]{1,64}$/;
const ISO = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(\.\d{1,6})?)?(Z|[+-]\d{2}:?\d{2})?)?$/i;
const KEYS = ['from', 'to', 'page', 'min-score', 'max-score', 'corrected-only', 'intent', 'direction', 'dedupe', 'raw-ids', 'redact'];

export function parseExportFormat(v: unknown): ExportFormat {
  if (typeof v === 'string' && Object.hasOwn(FORMATS, v)) return v as ExportFormat;
  throw new ExportInputError([`format must be one of ${Object.keys(FORMATS).join(', ')}${v === undefined ? '' : ` (got ${JSON.stringify(v)})`}`]);
}

/**
 * Filters from a query string (`?from=2026-11-01&intent=a&intent=b&min-score=0.2&redact`)
 * or the CLI's flags under the same names; `format` is ignored here. Lists take repeated
 * keys or commas. Booleans: empty, true/false, 1/0. Times without a zone are UTC.
 * Every problem is reported at once.
 */
export function parseExportFilters(query: Record<string, unknown>): ExportFilters {
  const p: string[] = [];
  for (const k of Object.keys(query)) if (k !== 'format' && !KEYS.includes(k)) p.push(`unknown filter "${k}" (known: ${KEYS.join(', ')})`);
  const strings = (k: string): string[] | undefined => {
    const v = query[k];
    if (v === undefined) return undefined;
    const list = Array.isArray(v) ? v : [v];
    if (list.every((s) => typeof s === 'string')) return list as string[];
    p.push(`${k} must be text`);
    return undefined;
  };
  const one = (k: string): string | undefined => {
    const list = strings(k);
    if (list && list.length > 1) p.push(`${k} is given ${list.length} times`);
    return list?.[0]?.trim();
  };
  const list = (k: string, re: RegExp, what: string): string[] | undefined => {
    const items = strings(k)?.flatMap((s) => s.split(',')).map((s) => s.trim()).filter(Boolean);
    if (!items) return undefined;
    for (const s of items) if (!re.test(s)) p.push(`${k} ${JSON.stringify(s)} is not ${what}`);
    if (items.length === 0) p.push(`${k} needs a value`);
    return [...new Set(items)];
  };
  const date = (k: string): Date | undefined => {
    const s = one(k);
    if (s === undefined) return undefined;
    const m = ISO.exec(s);
    const [y, mo, d] = [Number(m?.[1]), Number(m?.[2]), Number(m?.[3])];
    const zone = (m?.[8] ?? 'Z').toUpperCase().replace(/^([+-]\d\d)(\d\d)$/, '$1:$2');
    const t = m && new Date(Date.UTC(y, mo - 1, d)).getUTCDate() === d ? new Date(`${m[1]}-${m[2]}-${m[3]}T${m[4] ?? '00'}:${m[5] ?? '00'}:${m[6] ?? '00'}${m[7] ?? ''}${zone}`) : undefined;
    if (t && !Number.isNaN(t.getTime())) return t;
    p.push(`${k} ${JSON.stringify(s)} must be an ISO date or time such as 2026-11-01 or 2026-11-01T12:00:00Z (UTC unless it has an offset)`);
    return undefined;
  };
  const score = (k: string): number | undefined => {
    const s = one(k);
    if (s === undefined) return undefined;
    const n = Number(s);
    if (!/^(?:\d+\.?\d*|\.\d+)$/.test(s) || n > 1) p.push(`${k} ${JSON.stringify(s)} must be a number from 0 to 1`);
    return n;
  };
  const bool = (k: string, def: boolean): boolean => {
    const s = one(k)?.toLowerCase();
    if (s === undefined) return def;
    if (['', 'true', '1', 'yes'].includes(s)) return true;
    if (['false', '0', 'no'].includes(s)) return false;
    p.push(`${k} must be true or false (got ${JSON.stringify(s)})`);
    return def;
  };
  const direction = one('direction') ?? 'in';
  if (!['in', 'out', 'all'].includes(direction)) p.push(`direction must be in, out or all (got ${JSON.stringify(direction)})`);
  const f: ExportFilters = {
    from: date('from'),
    to: date('to'),
    pages: list('page', PAGE_ID, 'a page id'),
    minScore: score('min-score'),
    maxScore: score('max-score'),
    correctedOnly: bool('corrected-only', false),
    intents: list('intent', INTENT_NAME, 'an intent name (letters, digits, _ . -)'),
    direction: direction as ExportFilters['direction'],
    dedupe: bool('dedupe', true),
    rawIds: bool('raw-ids', false),
    redact: bool('redact', false),
  };
  if (f.from && f.to && f.from >= f.to) p.push('from must be before to');
  if (f.minScore !== undefined && f.maxScore !== undefined && f.minScore > f.maxScore) p.push('min-score must not be above max-score');
  if (p.length) throw new ExportInputError(p);
  for (const k of Object.keys(f) as (keyof ExportFilters)[]) if (f[k] === undefined) delete f[k];
  return f;
}

/** Problems of a format with these filters (thrown before anything is read or written). */
export function checkExport(filters: ExportFilters, format: ExportFormat): void {
  if (FORMATS[format].grouped && filters.direction !== 'in')
    throw new ExportInputError([`the ${format} format holds the users' messages and their intents only: direction must be in`]);
}

// Emails, then phone numbers: 7 to 15 digits with optional + ( ) and single separators.
// Lookbehinds make each try start at the beginning of a run, which keeps both linear, and
// spare order numbers such as SH-482913 (six digits, after a letter or a dash).
const EMAIL = /(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}/g;
const PHONE = /(?<![\w@+-])\+?(?:\(\d{1,4}\)|\d)(?:[ .-]?(?:\(\d{1,4}\)|\d))*(?![\w@])/g;
const NOT_PHONE = /^(?:\d{4}([-./])\d{1,2}\1\d{1,2}|\d{1,2}([-./])\d{1,2}\2\d{4}|\d+\.\d+)$/; // dates, decimals

export function redactText(s: string): string {
  const t = s.includes('@') ? s.replace(EMAIL, '[email]') : s;
  return t.replace(PHONE, (m) => {
    const digits = m.replace(/\D/g, '').length;
    return digits >= 7 && digits <= 15 && !NOT_PHONE.test(m) ? '[phone]' : m;
  });
}

const redactDeep = (v: unknown): unknown =>
  typeof v === 'string' ? redactText(v)
  : Array.isArray(v) ? v.map(redactDeep)
  : v && typeof v === 'object' ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, redactDeep(x)]))
  : v;

/**
 * Fingerprints of the texts already written: 64 bits each (cyrb53's mixing over two 32-bit
 * lanes, several times faster here than SHA-1 through node:crypto), open addressing over
 * two Uint32Arrays kept at most half full — 16 to 32 bytes per distinct text (one million
 * distinct texts: 16 MB, 24 MB while growing), outside the JS heap. It is the one part of
 * an export that grows with its size. Two different texts taken for one: ~3e-8 at 1M texts.
 */
export class TextSet {
  private hi = new Uint32Array(1 << 12);
  private lo = new Uint32Array(1 << 12);
  size = 0;

  /** True if the text was not there yet. */
  add(text: string): boolean {
    let h1 = 0xdeadbeef;
    let h2 = 0x41c6ce57;
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      h1 = Math.imul(h1 ^ c, 2654435761);
      h2 = Math.imul(h2 ^ c, 1597334677);
    }
    h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
    h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
    const a = h1 >>> 0;
    const b = h2 >>> 0 || 1; // lo = 0 marks an empty slot
    if (!this.insert(this.hi, this.lo, a, b)) return false;
    if (++this.size * 2 > this.hi.length) this.grow();
    return true;
  }

  private insert(hi: Uint32Array, lo: Uint32Array, a: number, b: number): boolean {
    const mask = hi.length - 1;
    for (let i = a & mask; ; i = (i + 1) & mask) {
      if (lo[i] === 0) {
        hi[i] = a;
        lo[i] = b;
        return true;
      }
      if (hi[i] === a && lo[i] === b) return false;
    }
  }

  private grow(): void {
    const [hi, lo] = [new Uint32Array(this.hi.length * 2), new Uint32Array(this.lo.length * 2)];
    for (let i = 0; i < this.lo.length; i++) if (this.lo[i] !== 0) this.insert(hi, lo, this.hi[i]!, this.lo[i]!);
    [this.hi, this.lo] = [hi, lo];
  }
}

/** Buffers small writes into chunks and waits for 'drain' when the destination is full. */
class Output {
  private buf = '';
  /** Something reached the destination: after a failure it is truncated and must not look complete. */
  wrote = false;
  private failure: Error | undefined;
  private readonly onError = (err: Error) => (this.failure = err);

  constructor(private readonly out: Writable) {
    out.on('error', this.onError); // an error while no write is pending must not crash the process
  }

  async put(s: string): Promise<void> {
    this.buf += s;
    if (this.buf.length >= 64 * 1024) await this.flush();
  }

  async flush(): Promise<void> {
    this.check();
    const chunk = this.buf;
    this.buf = '';
    if (!chunk) return;
    this.wrote = true;
    if (!this.out.write(chunk)) await this.drained();
    this.check();
  }

  async end(): Promise<void> {
    await this.flush();
    this.out.end();
    await finished(this.out, { readable: false });
  }

  /** After success only: a destination that failed keeps the listener, a late error must not crash the process. */
  release(): void {
    this.out.off('error', this.onError);
  }

  /** A failed export: a destination that received part of it is destroyed; an untouched one is left to the caller (an HTTP error answer). */
  fail(err: unknown): void {
    if (this.wrote && !this.out.destroyed) this.out.destroy(err instanceof Error ? err : new Error(String(err)));
  }

  private check(): void {
    if (this.failure) throw this.failure;
    if (this.out.destroyed || this.out.writableEnded) throw new ExportAbortedError('the output was closed before the export finished');
  }

  private drained(): Promise<void> {
    return new Promise((resolve, reject) => {
      const done = (err?: Error) => {
        this.out.off('drain', onDrain).off('close', onClose).off('error', done);
        if (err) reject(err);
        else resolve();
      };
      const onDrain = () => done();
      const onClose = () => done(this.failure ?? new ExportAbortedError('the output was closed before the export finished'));
      this.out.once('drain', onDrain).once('close', onClose).once('error', done);
    });
  }
}

/** A row as the queries return it (the corpus formats read only intent and text). */
interface ExportRow {
  id: string;
  page_id: string;
  user_id: string;
  direction: string;
  kind: string;
  text: string;
  intent: string | null;
  corrected_intent: string | null;
  score: number | null;
  intents: unknown;
  entities: unknown;
  sentiment: number | null;
  platform_ts: string | null;
  received_at: string | null;
  replied_at: string | null;
}

interface Format {
  contentType: string;
  extension: string;
  begin(meta: { name: string; locale: string }): string;
  /** How a text is written (and compared for dedupe). */
  text(s: string): string;
  /** Flat formats: one message, with its text and entities as exported (redacted). */
  line?(r: ExportRow, user: string, text: string, entities: unknown): string;
  /** Grouped formats: a block per intent (`first`: no block before it), then its utterances. */
  group?(intent: string, first: boolean): string;
  item?(text: string, first: boolean): string;
  end(hadGroups: boolean): string;
}

const CSV_COLUMNS = ['id', 'page', 'user', 'direction', 'kind', 'text', 'intent', 'predicted_intent', 'corrected_intent', 'score', 'intents', 'entities', 'sentiment', 'platform_ts', 'received_at', 'replied_at'];

/** RFC 4180: a field with a comma, quote or line break is quoted, its quotes doubled; rows end in CRLF. */
export function csvRow(fields: readonly unknown[]): string {
  return `${fields.map((v) => {
    const s = v === null || v === undefined ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v);
    return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  }).join(',')}\r\n`;
}

// YAML forbids C0/C1 controls and lone surrogates even in block scalars; NEL, LS and PS break lines in YAML 1.1.
const NOT_YAML = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F\u2028\u2029\uFEFF\uFFFE\uFFFF\uD800-\uDFFF]/gu;
const yamlName = (s: string) => (/^[A-Za-z_][A-Za-z0-9_.-]*$/.test(s) && !/^(?:true|false|yes|no|on|off|null|y|n)$/i.test(s) ? s : JSON.stringify(s));

const FORMATS: Record<ExportFormat, Format & { grouped: boolean }> = {
  // Laid out exactly as JSON.stringify(corpus, null, 2), so it diffs and merges like the bundled corpus.
  nlpjs: {
    contentType: 'application/json; charset=utf-8',
    extension: 'json',
    grouped: true,
    begin: (m) => `{\n  "name": ${JSON.stringify(m.name)},\n  "locale": ${JSON.stringify(m.locale)},\n  "data": [`,
    text: (s) => s.trim(),
    group: (intent, first) => `${first ? '' : '\n      ]\n    },'}\n    {\n      "intent": ${JSON.stringify(intent)},\n      "utterances": [`,
    item: (text, first) => `${first ? '' : ','}\n        ${JSON.stringify(text)}`,
    end: (had) => `${had ? '\n      ]\n    }\n  ' : ''}]\n}\n`,
  },
  jsonl: {
    contentType: 'application/x-ndjson; charset=utf-8',
    extension: 'jsonl',
    grouped: false,
    begin: () => '',
    text: (s) => s,
    line: (r, user, text, entities) => `${JSON.stringify({
      id: r.id, page: r.page_id, user, direction: r.direction, kind: r.kind, text, intent: r.corrected_intent ?? r.intent,
      predictedIntent: r.intent, correctedIntent: r.corrected_intent, score: r.score, intents: r.intents, entities, sentiment: r.sentiment,
      platformTs: r.platform_ts, receivedAt: r.received_at, repliedAt: r.replied_at,
    })}\n`,
    end: () => '',
  },
  csv: {
    contentType: 'text/csv; charset=utf-8; header=present',
    extension: 'csv',
    grouped: false,
    begin: () => csvRow(CSV_COLUMNS),
    text: (s) => s,
    line: (r, user, text, entities) => csvRow([r.id, r.page_id, user, r.direction, r.kind, text, r.corrected_intent ?? r.intent, r.intent, r.corrected_intent, r.score,
      r.intents, entities, r.sentiment, r.platform_ts, r.received_at, r.replied_at]),
    end: () => '',
  },
  // Rasa examples are one line each, and `[text](entity)` in one is an annotation: a text is
  // written on one line, and `](` / `]{` get a space so Rasa reads them as plain text.
  rasa: {
    contentType: 'application/yaml; charset=utf-8',
    extension: 'yml',
    grouped: true,
    begin: () => 'version: "3.1"\nnlu:',
    text: (s) => s.replace(NOT_YAML, ' ').replace(/\s+/g, ' ').replace(/\]([({])/g, '] $1').trim(),
    group: (intent) => `\n- intent: ${yamlName(intent)}\n  examples: |`,
    item: (text) => `\n    - ${text}`,
    end: (had) => (had ? '\n' : ' []\n'),
  },
};

/** What an HTTP answer needs: `res.type(EXPORT_FORMATS[f].contentType)`, a file name's extension. */
export const EXPORT_FORMATS: Readonly<Record<ExportFormat, { contentType: string; extension: string }>> = Object.fromEntries(
  Object.entries(FORMATS).map(([k, f]) => [k, { contentType: f.contentType, extension: f.extension }]),
) as Record<ExportFormat, { contentType: string; extension: string }>;

const AT = 'coalesce(m.received_at, m.replied_at, m.platform_ts)';
const INTENT = 'coalesce(m.corrected_intent, m.intent)';
const iso = (col: string) => `to_char(m.${col} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS ${col}`;

/** The WHERE clause of the filters, with only the conditions in use (so the planner sees plain predicates). */
function whereOf(f: ExportFilters, format: ExportFormat, scope?: readonly string[]): { sql: string; params: unknown[] } {
  const params: unknown[] = [];
  const $ = (v: unknown) => `$${params.push(v)}`;
  const c = ['m.text IS NOT NULL'];
  if (f.direction !== 'all') c.push(`m.direction = ${$(f.direction)}`);
  if (scope) c.push(`m.page_id = ANY(${$([...scope])}::text[])`);
  if (f.pages) c.push(`m.page_id = ANY(${$(f.pages)}::text[])`);
  if (f.from) c.push(`${AT} >= ${$(f.from.toISOString())}::timestamptz`);
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
      `SELECT m.id::text AS id, m.page_id, c.user_id, m.direction, m.kind, m.text, m.intent, m.corrected_intent, m.score, m.intents,
              m.entities, m.sentiment, ${iso('platform_ts')}, ${iso('received_at')}, ${iso('replied_at')}
       FROM messages m JOIN conversations c ON c.id = m.conversation_id
       WHERE ${w.sql} AND m.id > $${n + 1}::bigint ORDER BY m.id LIMIT $${n + 2}`,
      [...w.params, after, pageSize],
    );
  await prefetching(page('0'), (rows) => (rows.length < pageSize ? undefined : page(rows[rows.length - 1]!.id)), each);
}

/** Runs the query of the next page while the current one is written: PostgreSQL and the writing overlap. */
async function prefetching(first: Promise<ExportRow[]>, next: (rows: ExportRow[]) => Promise<ExportRow[]> | undefined, each: (rows: ExportRow[]) => Promise<void>): Promise<void> {
  for (let pending: Promise<ExportRow[]> | undefined = first; pending;) {
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
    const userOf = (page: string, user: string): string => {
      if (filters.rawIds) return user;
      const key = `${page}\u0000${user}`; // PSIDs are per page
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
          await output.put(fmt.line!(r, userOf(r.page_id, r.user_id), text, filters.redact ? redactDeep(r.entities) : r.entities));
        }
      }
    };
    const where = whereOf(filters, format, opts.scope);
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
