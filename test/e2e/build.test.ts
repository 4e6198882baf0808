/** The production artifact (`npm run build`, what the Dockerfile ships) runs: scripts and migrations are in it, and the tools. */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { nodeWidget } from '../../src/dev/fake-webchat';
import { RoleProcess } from '../helpers/procs';
import { redisTargets, tmpDir, uniquePrefix } from '../helpers/env';
import { waitUntil } from '../helpers/wait';
import { APP_SECRET, VERIFY_TOKEN, body, post, text } from '../helpers/fb';

const ROOT = path.resolve(__dirname, '..', '..');

test('the compiled build starts and queues a signed webhook event; the web chat widget and its scripts are in it', { timeout: 120_000 }, async () => {
  const build = spawnSync('npm', ['run', 'build'], { cwd: ROOT, encoding: 'utf8' });
  assert.equal(build.status, 0, build.stderr);
  const channels = path.join(tmpDir('build'), 'channels.json');
  fs.writeFileSync(
    channels,
    JSON.stringify({
      channels: [
        { type: 'messenger', id: '101', accessToken: 'token-101' },
        { type: 'webchat', id: 'shop', origins: ['https://shop.example'] },
      ],
    }),
  );
  const child = spawn(process.execPath, ['dist/src/main.js'], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? '',
      NODE_ENV: 'production',
      ROLE: 'gateway',
      PORT: '0',
      HOST: '127.0.0.1',
      FB_APP_SECRET: APP_SECRET,
      FB_VERIFY_TOKEN: VERIFY_TOKEN,
      REDIS_URL: redisTargets()[0]!.url!,
      REDIS_PREFIX: uniquePrefix('build'),
      CHANNELS_FILE: channels,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const p = await new RoleProcess('built-gateway', child).ready();
  try {
    assert.equal((await fetch(`${p.url}/healthz`)).status, 200);
    const r = await post(p.url, body([text('101', 'built', 1, 'm-built', 'hello from the build')]));
    assert.deepEqual([r.status, r.body.queued], [200, 1]);
    const widgetJs = await fetch(`${p.url}/webchat/widget.js`);
    assert.equal(widgetJs.status, 200);
    assert.match(await widgetJs.text(), /data-account/);
    // A message through a socket runs the web chat's Lua scripts from the build.
    const w = nodeWidget({ baseUrl: p.url, site: 'shop', origin: 'https://shop.example' });
    w.connect();
    try {
      await waitUntil('online', () => w.status === 'online');
      const cid = w.send('hello from the build')!;
      await waitUntil('acknowledged and shown', () => w.delivered?.[cid] && w.entries.length === 1);
      assert.deepEqual(
        w.entries.map((x) => x.e.text),
        ['hello from the build'],
      );
    } finally {
      w.stop();
    }
  } finally {
    assert.equal(await p.stop(), 0, 'drains and exits cleanly on SIGTERM');
  }
});

test("the compiled tools run from dist as the image runs them: ordered-chatbot and every command's --help", { timeout: 120_000 }, () => {
  const build = spawnSync('npm', ['run', 'build'], { cwd: ROOT, encoding: 'utf8' });
  assert.equal(build.status, 0, build.stderr);
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
  const bin = path.join(ROOT, pkg.bin['ordered-chatbot']);
  assert.ok(fs.statSync(bin).mode & 0o111, 'the bin is executable');
  assert.ok(fs.readFileSync(bin, 'utf8').startsWith('#!/usr/bin/env node\n'));
  // Run as the image does: through the shebang, with production settings and no dev tools (tsx) loaded.
  const run = (args: string[]) => spawnSync(bin, args, { cwd: ROOT, env: { PATH: process.env.PATH ?? '', NODE_ENV: 'production', DATA_DIR: path.join(tmpDir('build-cli'), 'data') }, encoding: 'utf8' });
  const help = run(['--help']);
  assert.equal(help.status, 0, help.stderr);
  const commands = [...help.stdout.matchAll(/^ {2}([a-z-]+) {2,}/gm)].map((m) => m[1]!);
  assert.deepEqual(commands.sort(), ['admin-user', 'eval', 'export', 'forget', 'migrate', 'train']);
  for (const c of commands) {
    const r = run([c, '--help']);
    assert.equal(r.status, 0, `${c}: ${r.stderr}`);
    assert.match(r.stdout, new RegExp(`ordered-chatbot ${c}\\b`));
  }
  const trained = run(['train', '--corpus', 'src/nlu/corpus/shop-en.json']);
  assert.equal(trained.status, 0, trained.stderr);
  assert.match(trained.stdout, /written to .*build-cli[^/]*\/data\/models\/[\w-]+\.model\.json/, 'train writes under DATA_DIR by default');
});
