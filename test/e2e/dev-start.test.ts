/**
 * What `npm start` shows a newcomer: readable, coloured log lines on a terminal (JSON in a
 * pipe), ending with the emulator, the admin app with a token that works, and the webhook.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { startRole } from '../helpers/procs';
import { redisTargets, tmpDir, uniquePrefix } from '../helpers/env';
import { waitUntil } from '../helpers/wait';

const ROOT = path.resolve(__dirname, '..', '..');
const devEnv = () => ({ BOT: 'echo', CHATLOG_ENABLED: 'false', REDIS_URL: redisTargets()[0]!.url!, REDIS_PREFIX: uniquePrefix('devstart'), DATA_DIR: tmpDir('dev-start') });

test('in a pipe: JSON lines, ending with the emulator, the admin app with a working token, and the webhook', { timeout: 60_000 }, async () => {
  const p = startRole('dev', devEnv());
  try {
    await p.ready();
    await waitUntil('the webhook line', () => p.output.some((l) => l.includes('webhook: http')), 10_000);
    const last = p.output.slice(-3).map((l) => JSON.parse(l).msg as string);
    assert.match(last[0]!, new RegExp(`^emulator: http://localhost:${p.port}/emulator `));
    assert.match(last[1]!, new RegExp(`^admin app: http://localhost:${p.port}/admin \\(sign in with the token [A-Za-z0-9_-]{24}\\)$`));
    assert.match(last[2]!, new RegExp(`^webhook: http://localhost:${p.port}/webhook `));
    for (const url of [/(http:\S+emulator)/, /(http:\S+admin)/].map((re, i) => re.exec(last[i]!)![1]!)) assert.equal((await fetch(url.replace('localhost', '127.0.0.1'))).status, 200, url);
    const token = /token (\S+)\)/.exec(last[1]!)![1]!;
    const signIn = await fetch(`${p.url}/admin/api/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token }) });
    assert.equal(signIn.status, 201, 'the printed token signs in');
  } finally {
    await p.stop();
  }
});

test('on a terminal: coloured, human-readable lines instead of JSON, with the same ending', { timeout: 60_000 }, async () => {
  // util-linux's `script` gives the process a pseudo-terminal, as a developer's shell does.
  const env = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', PORT: '0', HOST: '127.0.0.1', TERM: 'xterm', ...devEnv() };
  const child = spawn('script', ['-qfec', `${process.execPath} --import tsx src/main.ts`, '/dev/null'], { cwd: ROOT, env, stdio: ['pipe', 'pipe', 'pipe'], detached: true });
  let out = '';
  child.stdout.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr.on('data', (b: Buffer) => (out += b.toString()));
  try {
    await waitUntil('the webhook line on the terminal', () => /webhook: http/.test(out), 30_000);
    assert.match(out, /\x1b\[3\dm/, 'ANSI colours');
    assert.doesNotMatch(out, /\{"level":/, 'no JSON lines');
    const plain = out.replace(/\x1b\[[0-9;]*m/g, '');
    assert.match(plain, /\[\d\d:\d\d:\d\d\.\d{3}\] INFO: ready/);
    assert.match(plain, /INFO: emulator: http:\/\/localhost:\d+\/emulator[^]*INFO: admin app: http:\/\/localhost:\d+\/admin \(sign in with the token \S+\)[^]*INFO: webhook: http:\/\/localhost:\d+\/webhook/);
  } finally {
    process.kill(-child.pid!, 'SIGTERM');
    await new Promise((r) => child.once('exit', r));
  }
});
