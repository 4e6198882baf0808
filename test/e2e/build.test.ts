/** The production artifact (`npm run build`, what the Dockerfile ships) runs: scripts and migrations are in it. */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { RoleProcess } from '../helpers/procs';
import { redisTargets, uniquePrefix } from '../helpers/env';
import { APP_SECRET, VERIFY_TOKEN, body, post, text } from '../helpers/fb';

const ROOT = path.resolve(__dirname, '..', '..');

test('the compiled build starts and queues a signed webhook event', { timeout: 120_000 }, async () => {
  const build = spawnSync('npm', ['run', 'build'], { cwd: ROOT, encoding: 'utf8' });
  assert.equal(build.status, 0, build.stderr);
  const child = spawn(process.execPath, ['dist/src/main.js'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', NODE_ENV: 'production', ROLE: 'gateway', PORT: '0', HOST: '127.0.0.1', FB_APP_SECRET: APP_SECRET, FB_VERIFY_TOKEN: VERIFY_TOKEN, REDIS_URL: redisTargets()[0]!.url!, REDIS_PREFIX: uniquePrefix('build') },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const p = await new RoleProcess('built-gateway', child).ready();
  try {
    assert.equal((await fetch(`${p.url}/healthz`)).status, 200);
    const r = await post(p.url, body([text('101', 'built', 1, 'm-built', 'hello from the build')]));
    assert.deepEqual([r.status, r.body.queued], [200, 1]);
  } finally {
    assert.equal(await p.stop(), 0, 'drains and exits cleanly on SIGTERM');
  }
});
