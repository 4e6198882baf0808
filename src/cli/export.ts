/**
 * `export --format nlpjs|jsonl|csv|rasa [--out FILE] [filters…]`
 *
 * Exports the chatlog for retraining (see `src/chatlog/export.ts` for the formats and
 * filters, which the admin API shares). Writes to stdout unless `--out` is given; a file
 * appears only once the export is complete. The database is DATABASE_URL; in dev mode
 * without it, the PGlite chatlog under DATA_DIR/pglite. Progress (messages so far) on
 * stderr while it runs. Exit codes: see ./command.ts (a bad filter value is 1, like the
 * admin API's 400 for the same check).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Writable } from 'node:stream';
import { ConfigError, loadConfig, type Config } from '../config';
import { ExportAbortedError, ExportInputError, checkExport, exportMessages, parseExportFilters, parseExportFormat, type ExportCounts } from '../chatlog/export';
import { pgliteClient, postgresClient, type SqlClient } from '../chatlog/sql';
import { CommandError, EXIT_OK, main, parseCommandLine, progress, UsageError, type Command } from './command';

const USAGE = `usage: ordered-chatbot export --format nlpjs|jsonl|csv|rasa [--out FILE]
         [--from ISO] [--to ISO] [--channel TYPE]… [--account CHANNEL:ID]… [--page ID]… [--min-score N] [--max-score N] [--corrected-only]
         [--intent NAME]… [--direction in|out|all] [--no-dedupe] [--raw-ids] [--redact]

  --format          nlpjs: corpus JSON {name, locale, data:[{intent, utterances}]} (mergeable with NLU_CORPUS files)
                    jsonl: one message a line; csv: a header, then one message a row (RFC 4180)
                    rasa:  Rasa NLU YAML (version "3.1")
  --from, --to      messages at or after --from and before --to (UTC unless the time has an offset)
  --channel, --account, --page, --intent
                    repeat or separate with commas; --page ID is --account messenger:ID;
                    the intent is the corrected one when there is one
  --min-score, --max-score
                    range of the predicted intent's score (0 to 1); messages without one are left out
  --direction       in (default), out or all; nlpjs and rasa take in only, and leave out
                    uncorrected None predictions (not understood is not a label)
  --no-dedupe       keep every copy of a text (by default each text is written once)
  --raw-ids         Facebook's user ids instead of pseudonyms (HMAC: a new key each export,
                    or EXPORT_ID_SECRET for the same pseudonyms in every export)
  --redact          replace emails and phone numbers by [email] and [phone]
  -h, --help        this text

The chatlog: DATABASE_URL (dev mode without it: a copy of the PGlite chatlog under DATA_DIR).
Exit: 0 done, 1 failed (a bad filter value, an unreachable database, an unwritable file), 2 usage.`;

export interface ExportArgs {
  format: string;
  out?: string;
  /** The filters under parseExportFilters' names. */
  query: Record<string, string | string[]>;
}

const FILTERS = ['from', 'to', 'channel', 'account', 'page', 'min-score', 'max-score', 'intent', 'direction'];
const LIST_FILTERS = ['channel', 'account', 'page', 'intent'];
/** Switch → [filter name, value]. */
const SWITCHES: Record<string, [string, string]> = {
  'corrected-only': ['corrected-only', 'true'],
  'no-dedupe': ['dedupe', 'false'],
  'raw-ids': ['raw-ids', 'true'],
  redact: ['redact', 'true'],
};

/** `--flag value` and `--flag=value`; throws UsageError. */
export function parseExportArgs(argv: readonly string[]): ExportArgs | 'help' {
  const { values, help } = parseCommandLine(argv, {
    format: { type: 'string' },
    out: { type: 'string' },
    ...Object.fromEntries(FILTERS.map((f) => [f, { type: 'string' as const, multiple: LIST_FILTERS.includes(f) }])),
    ...Object.fromEntries(Object.keys(SWITCHES).map((f) => [f, { type: 'boolean' as const }])),
  });
  if (help) return 'help';
  if (values.format === undefined) throw new UsageError('--format is required');
  const query: Record<string, string | string[]> = {};
  for (const f of FILTERS) if (values[f] !== undefined) query[f] = values[f] as string | string[];
  for (const [flag, [key, value]] of Object.entries(SWITCHES)) if (values[flag] === true) query[key] = value;
  return { format: values.format as string, ...(values.out !== undefined ? { out: values.out as string } : {}), query };
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

async function exportChatlog(args: ExportArgs): Promise<ExportCounts> {
  const format = parseExportFormat(args.format);
  const filters = parseExportFilters(args.query);
  checkExport(filters, format);
  const config = loadConfig();
  const { db, close } = await openChatlog(config);
  // EXPORT_ID_SECRET: the same pseudonyms in every export (else a new key each time).
  let sofar: Readonly<ExportCounts> = { rows: 0, written: 0, duplicates: 0, skipped: 0 };
  const shown = progress(() => `export: ${sofar.rows} messages read, ${sofar.written} written…`);
  const opts = {
    ...(config.exportIdSecret !== undefined ? { secret: config.exportIdSecret } : {}),
    // CHATLOG_RETENTION_DAYS: nothing older than the retention, even if not purged yet.
    ...(config.chatlog.retentionDays ? { retentionDays: config.chatlog.retentionDays } : {}),
    onProgress: (c: Readonly<ExportCounts>) => {
      sofar = c;
      shown.tick();
    },
  };
  try {
    if (!args.out) return await exportMessages(db, filters, format, process.stdout, { end: false, ...opts });
    // Written next to the target and renamed when complete: a failed export leaves no half file.
    const target = path.resolve(args.out);
    const partial = `${target}.partial-${process.pid}`;
    const file = fs.createWriteStream(partial, { flags: 'wx' });
    try {
      const counts = await exportMessages(db, filters, format, file as Writable, opts);
      fs.renameSync(partial, target);
      return counts;
    } catch (err) {
      file.destroy();
      fs.rmSync(partial, { force: true });
      throw err;
    }
  } finally {
    shown.done();
    await close();
  }
}

/** A failure a user can act on, in one line, or undefined for a bug. */
function explain(err: unknown): string | undefined {
  const e = err as NodeJS.ErrnoException & { code?: string };
  if (err instanceof ExportInputError) return err.problems.join('\nexport: ');
  if (err instanceof ConfigError) return err.message;
  if (err instanceof ExportAbortedError || e?.code === 'EPIPE') return 'the output was closed before the export finished';
  if (e?.code === '42P01') return `the database has no chatlog tables (${e.message}): run \`ordered-chatbot migrate\` (or start the chatlog role once), or check DATABASE_URL`;
  if (e?.code === 'ECONNREFUSED' || e?.code === 'ENOTFOUND' || e?.code === '28P01' || e?.code === '3D000') return `cannot reach the chatlog database: ${e.message}`;
  if (e?.syscall) return e.message; // file system: --out in a missing directory, no permission…
  return undefined;
}

async function run(argv: readonly string[]): Promise<number> {
  const args = parseExportArgs(argv);
  if (args === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return EXIT_OK;
  }
  const started = Date.now();
  let c: ExportCounts;
  try {
    c = await exportChatlog(args);
  } catch (err) {
    const message = explain(err);
    throw message === undefined ? err : new CommandError(message);
  }
  process.stderr.write(`export: ${c.rows} messages matched, ${c.written} written, ${c.duplicates} duplicates, ${c.skipped} blank (${args.format}${args.out ? ` → ${args.out}` : ''}, ${((Date.now() - started) / 1000).toFixed(1)} s)\n`);
  if (c.written === 0 && (args.format === 'nlpjs' || args.format === 'rasa')) process.stderr.write('export: no utterance matched: the corpus is empty\n');
  return EXIT_OK;
}

export const exportCommand: Command = { name: 'export', usage: USAGE, run };

if (require.main === module) main(exportCommand);
