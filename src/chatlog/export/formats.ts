/**
 * How each export format is written — nlp.js corpus JSON, JSONL, CSV, Rasa NLU YAML —
 * through a buffered output that respects backpressure, with the dedupe set of texts.
 */
import { finished } from 'node:stream/promises';
import type { Writable } from 'node:stream';
import { ExportAbortedError, ExportInputError, type ExportFilters, type ExportFormat } from './filters';

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
export class Output {
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
export interface ExportRow {
  id: string;
  channel: string;
  account_id: string;
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

const CSV_COLUMNS = ['id', 'channel', 'account', 'user', 'direction', 'kind', 'text', 'intent', 'predicted_intent', 'corrected_intent', 'score', 'intents', 'entities', 'sentiment', 'platform_ts', 'received_at', 'replied_at'];

/**
 * Spreadsheets run a cell that begins with = + - @ (or a tab or CR before one) as a formula:
 * a user's message must not ("=HYPERLINK(…)", CSV injection). Such a text gets a leading
 * apostrophe, which spreadsheets hide, and so does one that already begins with apostrophes
 * before such a character, so `unneutralise` (the eval reader's) gives back the exact text.
 * Plain numbers (a negative sentiment) stay numbers.
 */
const FORMULA = /^'*[=+\-@\t\r]/;
const NUMBER = /^-?\d+(?:\.\d+)?(?:e[+-]?\d+)?$/i;
export const neutralise = (s: string): string => (FORMULA.test(s) && !NUMBER.test(s) ? `'${s}` : s);

/** RFC 4180: a field with a comma, quote or line break is quoted, its quotes doubled; rows end in CRLF. Formulas neutralised. */
export function csvRow(fields: readonly unknown[]): string {
  return `${fields
    .map((v) => {
      const s = neutralise(v === null || v === undefined ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v));
      return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
    })
    .join(',')}\r\n`;
}

// YAML forbids C0/C1 controls and lone surrogates even in block scalars; NEL, LS and PS break lines in YAML 1.1.
const NOT_YAML = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F\u2028\u2029\uFEFF\uFFFE\uFFFF\uD800-\uDFFF]/gu;
const yamlName = (s: string) => (/^[A-Za-z_][A-Za-z0-9_.-]*$/.test(s) && !/^(?:true|false|yes|no|on|off|null|y|n)$/i.test(s) ? s : JSON.stringify(s));

export const FORMATS: Record<ExportFormat, Format & { grouped: boolean }> = {
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
    line: (r, user, text, entities) =>
      `${JSON.stringify({
        id: r.id,
        channel: r.channel,
        account: r.account_id,
        user,
        direction: r.direction,
        kind: r.kind,
        text,
        intent: r.corrected_intent ?? r.intent,
        predictedIntent: r.intent,
        correctedIntent: r.corrected_intent,
        score: r.score,
        intents: r.intents,
        entities,
        sentiment: r.sentiment,
        platformTs: r.platform_ts,
        receivedAt: r.received_at,
        repliedAt: r.replied_at,
      })}\n`,
    end: () => '',
  },
  csv: {
    contentType: 'text/csv; charset=utf-8; header=present',
    extension: 'csv',
    grouped: false,
    begin: () => csvRow(CSV_COLUMNS),
    text: (s) => s,
    line: (r, user, text, entities) =>
      csvRow([r.id, r.channel, r.account_id, user, r.direction, r.kind, text, r.corrected_intent ?? r.intent, r.intent, r.corrected_intent, r.score, r.intents, entities, r.sentiment, r.platform_ts, r.received_at, r.replied_at]),
    end: () => '',
  },
  // Rasa examples are one line each, and `[text](entity)` in one is an annotation: a text is
  // written on one line, and `](` / `]{` get a space so Rasa reads them as plain text.
  rasa: {
    contentType: 'application/yaml; charset=utf-8',
    extension: 'yml',
    grouped: true,
    begin: () => 'version: "3.1"\nnlu:',
    text: (s) =>
      s
        .replace(NOT_YAML, ' ')
        .replace(/\s+/g, ' ')
        .replace(/\]([({])/g, '] $1')
        .trim(),
    group: (intent) => `\n- intent: ${yamlName(intent)}\n  examples: |`,
    item: (text) => `\n    - ${text}`,
    end: (had) => (had ? '\n' : ' []\n'),
  },
};

/** What an HTTP answer needs: `res.type(EXPORT_FORMATS[f].contentType)`, a file name's extension. */
export const EXPORT_FORMATS: Readonly<Record<ExportFormat, { contentType: string; extension: string }>> = Object.fromEntries(Object.entries(FORMATS).map(([k, f]) => [k, { contentType: f.contentType, extension: f.extension }])) as Record<
  ExportFormat,
  { contentType: string; extension: string }
>;

export function parseExportFormat(v: unknown): ExportFormat {
  if (typeof v === 'string' && Object.hasOwn(FORMATS, v)) return v as ExportFormat;
  throw new ExportInputError([`format must be one of ${Object.keys(FORMATS).join(', ')}${v === undefined ? '' : ` (got ${JSON.stringify(v)})`}`]);
}

/** Problems of a format with these filters (thrown before anything is read or written). */
export function checkExport(filters: ExportFilters, format: ExportFormat): void {
  if (FORMATS[format].grouped && filters.direction !== 'in') throw new ExportInputError([`the ${format} format holds the users' messages and their intents only: direction must be in`]);
}
