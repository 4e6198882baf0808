/** The production artifact (`npm run build`, what the Dockerfile ships) runs: scripts and migrations are in it. */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import fs from 'node:fs';
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
  fs.writeFileSync(channels, JSON.stringify({ channels: [{ type: 'messenger', id: '101', accessToken: 'token-101' }, { type: 'webchat', id: 'shop', origins: ['https://shop.example'] }] }));
  const child = spawn(process.execPath, ['dist/src/main.js'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', NODE_ENV: 'production', ROLE: 'gateway', PORT: '0', HOST: '127.0.0.1', FB_APP_SECRET: APP_SECRET, FB_VERIFY_TOKEN: VERIFY_TOKEN, REDIS_URL: redisTargets()[0]!.url!, REDIS_PREFIX: uniquePrefix('build'), CHANNELS_FILE: channels },
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
      assert.deepEqual(w.entries.map((x) => x.e.text), ['hello from the build']);
    } finally {
      w.stop();
    }
  } finally {
    assert.equal(await p.stop(), 0, 'drains and exits cleanly on SIGTERM');
  }
});
