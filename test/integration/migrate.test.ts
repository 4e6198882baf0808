/**
 * `ordered-chatbot migrate` against a real PostgreSQL: applies the chatlog migrations once,
 * is a no-op after, names an unreachable database; and `.env` for local runs, read by the
 * npm scripts' bootstrap (where the environment wins over the file).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { before, describe, test } from 'node:test';
import { loadMigrations } from '../../src/chatlog/migrate';
import { postgresClient } from '../../src/chatlog/sql';
import { testPostgres, tmpDir } from '../helpers/env';

const ROOT = path.resolve(__dirname, '..', '..');
const cli = (args: string[], env: Record<string, string>) => spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/index.ts', ...args], { cwd: ROOT, env: { PATH: process.env.PATH ?? '', ...env }, encoding: 'utf8', timeout: 60_000 });

async function tables(url: string): Promise<string[]> {
  const db = postgresClient(url, () => undefined);
  try {
    return (await db.query<{ t: string }>("SELECT table_name AS t FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1")).map((r) => r.t);
  } finally {
    await db.close();
  }
}

describe('ordered-chatbot migrate', () => {
  let url: string;
  before(async () => {
    url = await testPostgres().database('migrate_cli');
  });

  test('applies every migration to an empty database, then finds nothing to do', async () => {
    const versions = loadMigrations().map((m) => m.version);
    const first = cli(['migrate'], { DATABASE_URL: url });
    assert.equal(first.status, 0, first.stderr);
    assert.match(first.stdout, new RegExp(`^applied ${versions.length}: 001_init, `));
    assert.ok((await tables(url)).includes('messages'), 'the chatlog tables exist');
    const again = cli(['migrate'], { DATABASE_URL: url });
    assert.equal(again.status, 0, again.stderr);
    assert.equal(again.stdout, `up to date (latest ${versions.at(-1)})\n`);
    assert.doesNotMatch(again.stderr, /:[^@/]*@/, 'no password in what it prints');
  });

  test('an unreachable database or a bad DATABASE_URL fails with exit 1 and names it, the password hidden', () => {
    const down = cli(['migrate'], { DATABASE_URL: 'postgres://chatbot:s3cret@127.0.0.1:1/chatlog' });
    assert.equal(down.status, 1);
    assert.match(down.stderr, /ECONNREFUSED/);
    assert.match(down.stderr, /postgres:\/\/chatbot:\*\*\*@127\.0\.0\.1:1\/chatlog/);
    assert.doesNotMatch(down.stderr, /s3cret/);
    const bad = cli(['migrate'], { DATABASE_URL: 'mysql://x' });
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /DATABASE_URL must start with postgres:\/\//);
  });
});

describe('.env for local runs', () => {
  /**
   * The npm scripts' bootstrap, in a copy of the project whose node_modules and src are the
   * real ones (so it installs nothing), with a .env of the test's own.
   */
  function project(dotenv: string): string {
    const dir = tmpDir('dotenv');
    fs.mkdirSync(path.join(dir, 'scripts'));
    fs.copyFileSync(path.join(ROOT, 'scripts', 'bootstrap.mjs'), path.join(dir, 'scripts', 'bootstrap.mjs'));
    for (const f of ['node_modules', 'src', 'package.json', 'tsconfig.json']) fs.symlinkSync(path.join(ROOT, f), path.join(dir, f));
    fs.copyFileSync(path.join(ROOT, 'package-lock.json'), path.join(dir, 'package-lock.json'));
    fs.utimesSync(path.join(dir, 'package-lock.json'), new Date(0), new Date(0)); // older than node_modules: no npm ci
    fs.writeFileSync(path.join(dir, '.env'), dotenv);
    return dir;
  }
  const npmRun = (dir: string, args: string[], env: Record<string, string> = {}) =>
    spawnSync(process.execPath, [path.join(dir, 'scripts', 'bootstrap.mjs'), ...args], { cwd: dir, env: { PATH: process.env.PATH ?? '', ...env }, encoding: 'utf8', timeout: 60_000 });

  test('npm run migrate takes DATABASE_URL from .env; a variable set in the environment wins over the file', async () => {
    const url = await testPostgres().database('migrate_dotenv');
    const dir = project(`# local settings\nDATABASE_URL=${url}\nLOG_LEVEL=not-a-level\n`);
    const withFile = npmRun(dir, ['migrate'], { LOG_LEVEL: 'warn' });
    assert.equal(withFile.status, 0, withFile.stderr);
    assert.match(withFile.stderr, /read \.env/);
    assert.match(withFile.stdout, /^applied \d+: 001_init/);
    const overridden = npmRun(dir, ['migrate'], { DATABASE_URL: 'postgres://x:y@127.0.0.1:1/none', LOG_LEVEL: 'warn' });
    assert.equal(overridden.status, 1, "the environment's DATABASE_URL was used, not the file's");
    assert.match(overridden.stderr, /127\.0\.0\.1:1\/none/);
    const fromFile = npmRun(dir, ['migrate']);
    assert.equal(fromFile.status, 1, 'LOG_LEVEL from .env is read and validated');
    assert.match(fromFile.stderr, /LOG_LEVEL="not-a-level" must be one of/);
  });
});
