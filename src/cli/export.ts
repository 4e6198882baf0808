/**
 * `npm run export -- --format nlpjs|jsonl|csv|rasa [--out FILE] [filters…]`
 *
 * Exports the chatlog for retraining (see `src/chatlog/export.ts` for the formats and
 * filters, which the admin API shares). Writes to stdout unless `--out` is given; a file
 * appears only once the export is complete. The database is DATABASE_URL; in dev mode
 * without it, the PGlite chatlog under DATA_DIR/pglite. Exit status: 0 done, 1 bad input
 * or a failed export, 2 usage.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Writable } from 'node:stream';
import { ConfigError, loadConfig, type Config } from '../config';
import { ExportAbortedError, ExportInputError, checkExport, exportMessages, parseExportFilters, parseExportFormat, type ExportCounts } from '../chatlog/export';
import { pgliteClient, postgresClient, type SqlClient } from '../chatlog/sql';

export const USAGE = `usage: npm run export -- --format nlpjs|jsonl|csv|rasa [--out FILE]
         [--from ISO] [--to ISO] [--channel TYPE]… [--account CHANNEL:ID]… [--page ID]… [--min-score N] [--max-score N] [--corrected-only]
         [--intent NAME]… [--direction in|out|all] [--no-dedupe] [--raw-ids] [--redact]

  --format          nlpjs: corpus JSON {name, locale, data:[{intent, utterances}]} (mergeable with NLU_CORPUS files)
                    jsonl: one message a line; csv: a header, then one message a row (RFC 4180)
                    rasa:  Rasa NLU YAML (version "3.1")
  --from, --to      messages at or after --from and before --to (UTC unless the time has an offset)
  --channel, --account, --page, --intent  repeat or separate with commas; --page ID is --account messenger:ID;
                    the intent is the corrected one when there is one
  --min-score, --max-score
                    range of the predicted intent's score (0 to 1); messages without one are left out
  --direction       in (default), out or all; nlpjs and rasa take in only, and leave out
                    uncorrected None predictions (not understood is not a label)
  --no-dedupe       keep every copy of a text (by default each text is written once)
  --raw-ids         Facebook's user ids instead of pseudonyms (HMAC: a new key each export,
                    or EXPORT_ID_SECRET for the same pseudonyms in every export)
  --redact          replace emails and phone numbers by [email] and [phone]`;

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export interface ExportArgs {
  format: string;
  out?: string;
  /** The filters under parseExportFilters' names. */
  query: Record<string, string | string[]>;
}

const VALUE_FLAGS = ['from', 'to', 'channel', 'account', 'page', 'min-score', 'max-score', 'intent', 'direction'];
const LIST_FLAGS = ['channel', 'account', 'page', 'intent'];
const SWITCHES: Record<string, [string, string]> = {
  'corrected-only': ['corrected-only', 'true'],
  'no-dedupe': ['dedupe', 'false'],
  'raw-ids': ['raw-ids', 'true'],
  redact: ['redact', 'true'],
};

/** `--flag value` and `--flag=value`; throws UsageError. */
export function parseArgs(argv: readonly string[]): ExportArgs {
  let format: string | undefined;
  let out: string | undefined;
  const query: Record<string, string | string[]> = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--help' || arg === '-h') throw new UsageError('');
    const m = /^--([a-z-]+)(?:=(.*))?$/s.exec(arg);
    if (!m) throw new UsageError(`unexpected argument ${JSON.stringify(arg)}`);
    const [, name, inline] = m as unknown as [string, string, string | undefined];
    if (name in SWITCHES) {
      if (inline !== undefined) throw new UsageError(`--${name} takes no value`);
      const [key, value] = SWITCHES[name]!;
      query[key] = value;
      continue;
    }
    if (name !== 'format' && name !== 'out' && !VALUE_FLAGS.includes(name)) throw new UsageError(`unknown option --${name}`);
    const value = inline ?? argv[++i];
    if (value === undefined || (inline === undefined && value.startsWith('--'))) throw new UsageError(`--${name} needs a value`);
    if (name === 'format' || name === 'out') {
      if ((name === 'format' ? format : out) !== undefined) throw new UsageError(`--${name} is given twice`);
      if (name === 'format') format = value;
      else out = value;
    } else if (LIST_FLAGS.includes(name)) query[name] = [...[query[name] ?? []].flat(), value];
    else if (query[name] !== undefined) throw new UsageError(`--${name} is given twice`);
    else query[name] = value;
  }
  if (format === undefined) throw new UsageError('--format is required');
  return { format, ...(out !== undefined ? { out } : {}), query };
}

/**
 * The chatlog database. In dev mode the export reads a copy of DATA_DIR/pglite: PGlite
 * has no lock, and a second PGlite on the directory a running `npm start` writes would
 * corrupt it.
 */
async function openChatlog(config: Config): Promise<{ db: SqlClient; close: () => Promise<void> }> {
  if (config.databaseUrl) {
    // An idle connection's error: a query on it fails too, and that failure is what gets reported.
    const db = postgresClient(config.databaseUrl, (err) => process.stderr.write(`export: database connection lost: ${err.message}\n`));
    return { db, close: () => db.close() };
  }
  if (config.production) throw new ExportInputError(['DATABASE_URL is required when NODE_ENV=production']);
  const dir = path.join(config.dataDir, 'pglite');
  if (!fs.existsSync(path.join(dir, 'PG_VERSION'))) throw new ExportInputError([`no chatlog: DATABASE_URL is not set and ${dir} holds no PGlite database (run npm start once, or set DATABASE_URL)`]);
  const copy = fs.mkdtempSync(path.join(os.tmpdir(), 'cb-export-'));
  fs.cpSync(dir, copy, { recursive: true });
  try {
    const db = await pgliteClient(copy);
    const close = async () => {
      await db.close();
      fs.rmSync(copy, { recursive: true, force: true });
    };
    return { db, close };
  } catch (err) {
    fs.rmSync(copy, { recursive: true, force: true });
    throw new ExportInputError([`cannot open the PGlite chatlog copied from ${dir}: ${(err as Error).message} (while npm start writes it a copy can be torn: retry, or export through the admin API)`]);
  }
}

async function run(args: ExportArgs): Promise<ExportCounts> {
  const format = parseExportFormat(args.format);
  const filters = parseExportFilters(args.query);
  checkExport(filters, format);
  const config = loadConfig();
  const { db, close } = await openChatlog(config);
  // EXPORT_ID_SECRET: the same pseudonyms in every export (else a new key each time).
  // CHATLOG_RETENTION_DAYS: nothing older than the retention, even if not purged yet.
  const secret = { ...(config.exportIdSecret !== undefined ? { secret: config.exportIdSecret } : {}), ...(config.chatlog.retentionDays ? { retentionDays: config.chatlog.retentionDays } : {}) };
  try {
    if (!args.out) return await exportMessages(db, filters, format, process.stdout, { end: false, ...secret });
    // Written next to the target and renamed when complete: a failed export leaves no half file.
    const target = path.resolve(args.out);
    const partial = `${target}.partial-${process.pid}`;
    const file = fs.createWriteStream(partial, { flags: 'wx' });
    try {
      const counts = await exportMessages(db, filters, format, file as Writable, secret);
      fs.renameSync(partial, target);
      return counts;
    } catch (err) {
      file.destroy();
      fs.rmSync(partial, { force: true });
      throw err;
    }
  } finally {
    await close();
  }
}

/** A failure a user can act on, in one line, or undefined for a bug. */
function explain(err: unknown): string | undefined {
  const e = err as NodeJS.ErrnoException & { code?: string };
  if (err instanceof ExportInputError) return `export: ${err.problems.join('\nexport: ')}`;
  if (err instanceof ConfigError) return err.message;
  if (err instanceof ExportAbortedError || e?.code === 'EPIPE') return 'export: the output was closed before the export finished';
  if (e?.code === '42P01') return `export: the database has no chatlog tables (${e.message}): start the app once so that its migrations run, or check DATABASE_URL`;
  if (e?.code === 'ECONNREFUSED' || e?.code === 'ENOTFOUND' || e?.code === '28P01' || e?.code === '3D000') return `export: cannot reach the chatlog database: ${e.message}`;
  if (e?.syscall) return `export: ${e.message}`; // file system: --out in a missing directory, no permission…
  return undefined;
}

async function main(): Promise<number> {
  let args: ExportArgs;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    if (!err.message) {
      process.stdout.write(`${USAGE}\n`); // --help
      return 0;
    }
    process.stderr.write(`export: ${err.message}\n${USAGE}\n`);
    return 2;
  }
  const started = Date.now();
  try {
    const c = await run(args);
    process.stderr.write(`export: ${c.rows} messages matched, ${c.written} written, ${c.duplicates} duplicates, ${c.skipped} blank (${args.format}${args.out ? ` → ${args.out}` : ''}, ${((Date.now() - started) / 1000).toFixed(1)} s)\n`);
    if (c.written === 0 && (args.format === 'nlpjs' || args.format === 'rasa')) process.stderr.write('export: no utterance matched: the corpus is empty\n');
    return 0;
  } catch (err) {
    process.stderr.write(`${explain(err) ?? `export failed: ${(err as Error).stack ?? String(err)}`}\n`);
    return 1;
  }
}

if (require.main === module) {
  main().then((code) => {
    process.exitCode = code;
  }, (err) => {
    process.stderr.write(`export failed: ${(err as Error).stack ?? String(err)}\n`);
    process.exitCode = 1;
  });
}
