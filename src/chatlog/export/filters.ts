/**
 * What an export is asked for: the format, the filters (from a query string or the CLI,
 * every problem reported at once) and the redaction of emails and phone numbers.
 */
export type ExportFormat = 'nlpjs' | 'jsonl' | 'csv' | 'rasa';

export interface ExportFilters {
  /** Messages at or after `from` and before `to` (received, else replied, else sent). */
  from?: Date;
  to?: Date;
  /** Account keys (`<channel>:<id>`; `page` filters name Messenger pages). */
  accounts?: string[];
  /** Channel types. */
  channels?: string[];
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
  /** Keep the platforms' user ids instead of pseudonyms. */
  rawIds: boolean;
  /** Replace emails and phone numbers in texts and entities by `[email]` / `[phone]`. */
  redact: boolean;
}

export interface ExportOptions {
  /** The caller's account scope (an admin's granted account keys); undefined = every account. */
  scope?: readonly string[];
  /** CHATLOG_RETENTION_DAYS: messages older than this are left out even before they are purged. */
  retentionDays?: number;
  /** HMAC key of the user pseudonyms; by default a random one per export, so two exports cannot be joined. */
  secret?: string | Buffer;
  /** Rows fetched per query. */
  pageSize?: number;
  /** `name` and `locale` of an nlp.js corpus. */
  name?: string;
  locale?: string;
  /** End `out` when done and wait until it has flushed (default true; the CLI keeps stdout open). */
  end?: boolean;
  /** Called after each page of rows with the counts so far (the CLI's progress line). */
  onProgress?: (counts: Readonly<ExportCounts>) => void;
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
const ACCOUNT_KEY = /^[a-z][a-z0-9_-]{0,31}:[A-Za-z0-9_.@+=-]{1,128}$/;
const CHANNEL = /^[a-z][a-z0-9_-]{0,31}$/;
const ISO = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(\.\d{1,6})?)?(Z|[+-]\d{2}:?\d{2})?)?$/i;
const KEYS = ['from', 'to', 'channel', 'account', 'page', 'min-score', 'max-score', 'corrected-only', 'intent', 'direction', 'dedupe', 'raw-ids', 'redact'];

/**
 * Filters from a query string (`?from=2026-11-01&intent=a&intent=b&min-score=0.2&redact`)
 * or the CLI's flags under the same names; `format` is ignored here. Lists take repeated
 * keys or commas. Booleans: empty, true/false, 1/0. Times without a zone are UTC.
 * Every problem is reported at once.
 */
/** `account` keys and the older `page` ids (Messenger pages) together. */
function accountsOf(accounts: string[] | undefined, pages: string[] | undefined): string[] | undefined {
  if (!accounts && !pages) return undefined;
  return [...new Set([...(accounts ?? []), ...(pages ?? []).map((p) => `messenger:${p}`)])];
}

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
    const items = strings(k)
      ?.flatMap((s) => s.split(','))
      .map((s) => s.trim())
      .filter(Boolean);
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
    accounts: accountsOf(list('account', ACCOUNT_KEY, 'an account <channel>:<id>'), list('page', PAGE_ID, 'a page id')),
    channels: list('channel', CHANNEL, 'a channel type'),
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

export const redactDeep = (v: unknown): unknown => (typeof v === 'string' ? redactText(v) : Array.isArray(v) ? v.map(redactDeep) : v && typeof v === 'object' ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, redactDeep(x)])) : v);
