/**
 * The tools behave like tools: one `ordered-chatbot` dispatcher, `--help` on every command
 * (usage on stdout, exit 0), strict parsing on node:util parseArgs (usage errors exit 2 and
 * do nothing), and progress lines on stderr. The commands' own work is tested beside what
 * they act on (eval.test.ts, export.test.ts, nlu-store.test.ts, migrate.test.ts).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { COMMANDS } from '../../src/cli/index';
import { progress } from '../../src/cli/command';

const ROOT = path.resolve(__dirname, '..', '..');
const cli = (args: string[], input = '') => spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/index.ts', ...args], { cwd: ROOT, env: { PATH: process.env.PATH ?? '' }, input, encoding: 'utf8', timeout: 60_000 });

test('ordered-chatbot --help lists every command; no command or an unknown one is a usage error (exit 2)', () => {
  const help = cli(['--help']);
  assert.equal(help.status, 0, help.stderr);
  assert.match(help.stdout, /^usage: ordered-chatbot <command> \[options\]/);
  for (const name of ['migrate', 'train', 'eval', 'export', 'admin-user']) assert.match(help.stdout, new RegExp(`^  ${name} +\\S`, 'm'), name);
  const none = cli([]);
  assert.deepEqual([none.status, none.stdout], [2, '']);
  assert.match(none.stderr, /usage: ordered-chatbot/);
  const unknown = cli(['bogus']);
  assert.equal(unknown.status, 2);
  assert.match(unknown.stderr, /unknown command "bogus"/);
  assert.match(cli(['--version']).stdout, /^\d+\.\d+\.\d+\n$/);
});

test('every command prints its usage for --help and -h and exits 0, doing nothing else', () => {
  for (const name of Object.keys(COMMANDS)) {
    for (const flag of ['--help', '-h']) {
      const r = cli([name, flag]);
      assert.equal(r.status, 0, `${name} ${flag}: ${r.stderr}`);
      assert.equal(r.stderr, '', `${name} ${flag} writes nothing to stderr`);
      assert.match(r.stdout, new RegExp(`^usage: (echo PASSWORD \\| )?ordered-chatbot ${name}\\b`), name);
      assert.match(r.stdout, /^Exit: 0 done.*, 1 failed.*, 2 usage\.$/m, `${name} documents its exit codes`);
    }
  }
});

test('usage errors exit 2 with the problem and the usage, and do nothing', () => {
  const cases: [string[], RegExp][] = [
    // Before parseArgs this named a user "--role".
    [['admin-user', '--name', '--role', 'x'], /--name needs a value/],
    [['admin-user', '--hash', '--name', 'ann'], /--hash or --name, not both/],
    [['admin-user', '--name', 'ann', '--role', 'boss'], /--role must be one of admin, agent, viewer/],
    [['train', '--bogus'], /unknown option --bogus/],
    [['train', '--list', '--publish'], /one at a time/],
    [['train', 'stray.json'], /unexpected argument "stray\.json"/],
    [['eval', '--corpus', 'a.json', '--threshold', '2'], /--threshold needs a number from 0 to 1/],
    [['export', '--format', 'csv', '--format', 'jsonl'], /--format is given twice/],
    [['export', '--format', 'csv', '--redact=yes'], /--redact takes no value/],
    [['migrate', 'now'], /unexpected argument "now"/],
  ];
  for (const [args, message] of cases) {
    const r = cli(args, 'a-long-password\n');
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.equal(r.stdout, '', `${args.join(' ')} printed nothing on stdout`);
    assert.match(r.stderr, message, args.join(' '));
    assert.match(r.stderr, new RegExp(`usage: (echo PASSWORD \\| )?ordered-chatbot ${args[0]}`), `${args.join(' ')} shows the usage`);
  }
});

test('admin-user: --name NAME prints an entry; a short password fails with exit 1', () => {
  const ok = cli(['admin-user', '--name=ann', '--role', 'viewer', '--pages', '101, 102'], 'a-long-password\n');
  assert.equal(ok.status, 0, ok.stderr);
  assert.deepEqual((({ name, role, accounts }) => ({ name, role, accounts }))(JSON.parse(ok.stdout)), { name: 'ann', role: 'viewer', accounts: ['messenger:101', 'messenger:102'] }, '--pages names Messenger pages');
  const short = cli(['admin-user', '--hash'], 'short\n');
  assert.deepEqual([short.status, short.stdout], [1, '']);
  assert.match(short.stderr, /^admin-user: the password must be at least 10 characters\n$/);
});

test('migrate without DATABASE_URL fails with exit 1 and says what is missing', () => {
  const r = cli(['migrate']);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /DATABASE_URL is not set/);
});

/** A stand-in for stderr that records what was written. */
function stream(isTTY: boolean): NodeJS.WriteStream & { text: string } {
  const s = { isTTY, text: '', write: (chunk: string) => ((s.text += chunk), true) };
  return s as unknown as NodeJS.WriteStream & { text: string };
}

test('progress: a line every interval in a log; one line rewritten in place on a terminal; the last count at the end', async () => {
  let n = 0;
  const log = stream(false);
  const p = progress(() => `read ${n}`, 20, log);
  for (n = 1; n <= 3; n++) {
    await new Promise((r) => setTimeout(r, 25));
    p.tick();
  }
  n = 10;
  p.done();
  assert.deepEqual(log.text.trimEnd().split('\n'), ['read 1', 'read 2', 'read 3', 'read 10']);

  const quick = stream(false);
  const q = progress(() => 'never', 60_000, quick);
  q.tick();
  q.done();
  assert.equal(quick.text, '', 'work shorter than one interval prints nothing (its summary says it all)');

  const tty = stream(true);
  const t = progress(() => `read ${n}`, 5_000, tty);
  await new Promise((r) => setTimeout(r, 110));
  n = 11;
  t.tick();
  n = 12;
  t.done();
  assert.equal(tty.text, '\rread 11\x1b[K\rread 12\x1b[K\n');
});
