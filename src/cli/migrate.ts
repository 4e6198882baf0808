/**
 * `migrate`: applies the chatlog migrations (src/chatlog/migrations) to DATABASE_URL and
 * exits. The chatlog role also migrates at start; this runs them before a rollout (the
 * Kubernetes Job, compose's one-shot service), under the same advisory lock, so it is safe
 * beside running replicas and a no-op when the schema is current.
 */
import { loadMigrations, migrate } from '../chatlog/migrate';
import { postgresClient } from '../chatlog/sql';
import { ConfigError, loadCliConfig } from '../config';
import { CommandError, EXIT_OK, main, parseCommandLine, type Command } from './command';

const USAGE = `usage: ordered-chatbot migrate

Applies the chatlog's SQL migrations to the PostgreSQL database of DATABASE_URL, then exits.
Safe to run while the app runs (an advisory lock serialises it with the chatlog role's own
start-up migration); prints what it applied, or that the schema is up to date.

  -h, --help      this text

Exit: 0 done (or nothing to do), 1 failed (no DATABASE_URL, database unreachable, a migration failed), 2 usage.`;

/** The URL without its password, for messages. */
function shown(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'DATABASE_URL';
  }
}

async function run(argv: readonly string[]): Promise<number> {
  if (parseCommandLine(argv, {}).help) {
    process.stdout.write(`${USAGE}\n`);
    return EXIT_OK;
  }
  let url: string | undefined;
  try {
    url = loadCliConfig().databaseUrl;
  } catch (err) {
    if (err instanceof ConfigError) throw new CommandError(err.message);
    throw err;
  }
  if (url === undefined) throw new CommandError('DATABASE_URL is not set: it names the chatlog database to migrate (dev mode migrates its embedded PGlite chatlog when npm start starts)');
  const migrations = loadMigrations();
  process.stderr.write(`migrate: ${shown(url)}, ${migrations.length} migrations known\n`);
  const db = postgresClient(url, () => undefined);
  try {
    const applied = await migrate(db, migrations);
    const names = applied.map((v) => `${String(v).padStart(3, '0')}_${migrations.find((m) => m.version === v)!.name}`);
    console.log(applied.length ? `applied ${applied.length}: ${names.join(', ')}` : `up to date (latest ${migrations.at(-1)?.version ?? 0})`);
    return EXIT_OK;
  } catch (err) {
    const e = err as Error & { code?: string };
    throw new CommandError(`${e.code && /^[0-9A-Z]{5}$/.test(e.code) ? `PostgreSQL ${e.code}: ` : ''}${e.message || e.code || String(err)} (${shown(url)})`);
  } finally {
    await db.close();
  }
}

export const migrateCommand: Command = { name: 'migrate', usage: USAGE, run };

if (require.main === module) main(migrateCommand);
