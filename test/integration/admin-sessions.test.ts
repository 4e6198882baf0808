/**
 * Admin sessions follow revocation (issue #13), on a real app with real Redis and
 * PostgreSQL: ADMIN_USERS_FILE is rewritten as an operator (or Kubernetes, for a mounted
 * Secret) would, and the sessions of users removed or changed end without a restart, their
 * live feeds too; a broken file is refused; sessions opened with a rotated ADMIN_TOKEN end
 * across a restart.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { hashPassword } from '../../src/admin/users';
import { PASSWORD, USERS, startAdminApp } from '../helpers/admin';
import { startTestApp } from '../helpers/app';
import { redisTargets, tmpDir, uniquePrefix } from '../helpers/env';
import { sleep, waitUntil } from '../helpers/wait';

describe('admin sessions follow revocation', () => {
  let app: Awaited<ReturnType<typeof startAdminApp>>;
  before(async () => {
    app = await startAdminApp('adminsessions', { TRUST_PROXY: 'loopback' });
    await app.say('101', 's1', 'hello there');
  });
  after(() => app?.stop());

  /** Opens the live feed; `ended()` resolves when the server closes it. */
  const openLive = async (token: string) => {
    const ctrl = new AbortController();
    const res = await fetch(`${app.url}/admin/api/live`, { headers: { authorization: `Bearer ${token}` }, signal: ctrl.signal });
    assert.equal(res.status, 200);
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    let text = '';
    const ended = (async () => {
      for (;;) {
        const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true }));
        if (done) return text;
        text += value;
      }
    })();
    return { ended, close: () => ctrl.abort() };
  };
  const reloads = async (result: 'ok' | 'invalid') => Number(new RegExp(`^cb_admin_users_reloads_total\\{result="${result}"\\} (\\d+)`, 'm').exec(await app.metrics.registry.metrics())?.[1] ?? 0);
  /** Rewrites ADMIN_USERS_FILE and waits until the app has read it (a few seconds at most). */
  const rewrite = async (users: Parameters<typeof app.writeUsers>[0], result: 'ok' | 'invalid' = 'ok') => {
    const before = await reloads(result);
    app.writeUsers(typeof users === 'string' ? users : [...USERS, ...users]);
    await waitUntil(`the users file reloaded (${result})`, async () => (await reloads(result)) > before, 10_000);
  };
  const signInStatus = async (user: string, from: string) => (await app.api('/session', { token: '', json: { user, password: PASSWORD }, from })).status;

  test('a user removed from ADMIN_USERS_FILE loses their sessions without a restart: no reply goes out, sign-in fails, the live feed closes', async () => {
    await rewrite([{ name: 'carl', role: 'agent', pages: ['101'] }]);
    const carl = await app.signIn('carl', '192.0.2.30');
    assert.equal((await app.api('/me', { token: carl })).status, 200);
    const live = await openLive(carl);
    try {
      await rewrite([]);
      const gone = await app.api('/me', { token: carl, from: '192.0.2.30' });
      assert.equal(gone.status, 401, 'the very next request');
      assert.match(gone.json.error, /carl is no longer in ADMIN_USERS_FILE/);
      const sent = app.fakeGraph!.calls.length;
      assert.equal((await app.api('/conversations/101:s1/reply', { token: carl, json: { text: 'I was removed, yet here I am' }, from: '192.0.2.30' })).status, 401);
      await sleep(500);
      assert.equal(app.fakeGraph!.calls.length, sent, 'nothing was sent');
      assert.equal(await signInStatus('carl', '192.0.2.31'), 401, 'nor can carl sign in again');
      const said = await Promise.race([live.ended, sleep(15_000).then(() => assert.fail('the live feed of a removed user kept streaming'))]);
      assert.match(said, /event: ended\ndata: .*carl is no longer in ADMIN_USERS_FILE/, 'the stream says why it ends');
    } finally {
      live.close();
    }
  });

  test('a user whose entry changed (demoted, other pages, new password) must sign in again, and then has the new rights', async () => {
    await rewrite([
      { name: 'dora', role: 'agent', pages: ['101'] },
      { name: 'emil', role: 'agent', pages: ['101'] },
      { name: 'fay', role: 'agent', pages: ['101'] },
    ]);
    const [dora, emil, fay] = [await app.signIn('dora', '192.0.2.40'), await app.signIn('emil', '192.0.2.40'), await app.signIn('fay', '192.0.2.40')];
    await rewrite([
      { name: 'dora', role: 'viewer', pages: ['101'] },
      { name: 'emil', role: 'agent', pages: ['102'] },
      { name: 'fay', role: 'agent', pages: ['101'], passwordHash: hashPassword('a brand new password') },
    ]);
    for (const [who, token] of [
      ['dora', dora],
      ['emil', emil],
      ['fay', fay],
    ] as const) {
      const r = await app.api('/me', { token, from: '192.0.2.40' });
      assert.equal(r.status, 401, who);
      assert.match(r.json.error, new RegExp(`entry of ${who} in ADMIN_USERS_FILE changed`));
    }
    const demoted = await app.signIn('dora', '192.0.2.41');
    assert.equal((await app.api('/conversations/101:s1/takeover', { token: demoted, json: {} })).status, 403, 'a viewer now');
    assert.equal((await app.api('/conversations/101:s1', { token: await app.signIn('emil', '192.0.2.41') })).status, 404, 'page 101 is no longer his');
    assert.equal(await signInStatus('fay', '192.0.2.41'), 401, 'the old password is gone');
  });

  test('a new users file that is invalid is refused: the last good version stays in force until it is fixed', async () => {
    await rewrite([{ name: 'gus', role: 'agent', pages: ['101'] }]);
    const gus = await app.signIn('gus', '192.0.2.50');
    await rewrite('{"users": [ {"name": "gus", "role": "agent", "pages": ["101"]', 'invalid');
    assert.equal((await app.api('/me', { token: gus })).status, 200, 'sessions of the last good version still work');
    assert.equal(await signInStatus('gus', '192.0.2.51'), 201);
    await rewrite([{ name: 'gus', role: 'boss', pages: ['101'] }], 'invalid');
    assert.equal((await app.api('/me', { token: gus })).status, 200, 'a file that parses but is wrong is refused the same way');
    await rewrite([]);
    assert.equal((await app.api('/me', { token: gus, from: '192.0.2.50' })).status, 401, 'the fixed file is in force');
  });

  test('the live feed ends at sign-out', async () => {
    const token = await app.signIn('ann', '192.0.2.60');
    const live = await openLive(token);
    try {
      assert.equal((await app.api('/session', { token, method: 'DELETE' })).status, 204);
      await Promise.race([live.ended, sleep(15_000).then(() => assert.fail('the live feed kept streaming after sign-out'))]);
    } finally {
      live.close();
    }
  });

  test('sessions opened with the ADMIN_TOKEN end when the token changes, though they are kept in Redis across the restart; user sessions stay', async () => {
    const dir = tmpDir('adminsec-rotate');
    const usersFile = path.join(dir, 'users.json');
    fs.writeFileSync(usersFile, JSON.stringify({ users: [{ name: 'hal', role: 'agent', pages: ['*'], passwordHash: hashPassword(PASSWORD) }] }));
    const env = { ...redisTargets()[0]!.env, ROLE: 'gateway', REDIS_PREFIX: uniquePrefix('rotate'), ADMIN_USERS_FILE: usersFile };
    const signIn = async (url: string, json: unknown) => {
      const r = await fetch(`${url}/admin/api/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(json) });
      assert.equal(r.status, 201);
      return ((await r.json()) as { token: string }).token;
    };
    const me = async (url: string, token: string) => {
      const r = await fetch(`${url}/admin/api/me`, { headers: { authorization: `Bearer ${token}` } });
      return { status: r.status, error: ((await r.json()) as { error?: string }).error };
    };
    const first = await startTestApp('rotate1', { ...env, ADMIN_TOKEN: 'the-old-admin-token-0001' });
    let viaToken: string;
    let hal: string;
    try {
      viaToken = await signIn(first.url, { token: 'the-old-admin-token-0001' });
      hal = await signIn(first.url, { user: 'hal', password: PASSWORD });
    } finally {
      await first.stop();
    }
    const second = await startTestApp('rotate2', { ...env, ADMIN_TOKEN: 'the-new-admin-token-0002' });
    try {
      const ended = await me(second.url, viaToken);
      assert.equal(ended.status, 401);
      assert.match(ended.error!, /ADMIN_TOKEN.*changed/);
      assert.equal((await me(second.url, hal)).status, 200, 'an unchanged user entry keeps its session across the restart');
      assert.equal((await me(second.url, 'the-old-admin-token-0001')).status, 401);
    } finally {
      await second.stop();
    }
  });
});
