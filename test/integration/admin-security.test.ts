/**
 * Admin API hardening (issue #13), against a real app on real Redis and PostgreSQL: sessions
 * that follow revocation, sign-in that cannot stall the event loop, rate limits that cannot
 * be bypassed nor turned against an account's owner, the agent taken from the sign-in, and
 * query parameters that are plain strings. The app trusts the loopback proxy (TRUST_PROXY),
 * so each test plays its clients from addresses of its own through X-Forwarded-For.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { startAdminApp } from '../helpers/admin';
import { waitUntil } from '../helpers/wait';

describe('admin security', () => {
  let app: Awaited<ReturnType<typeof startAdminApp>>;
  before(async () => {
    app = await startAdminApp('adminsec', { TRUST_PROXY: 'loopback' });
    await app.say('101', 's1', 'hello there');
  });
  after(() => app?.stop());

  test('a query parameter given twice or as an array or object is refused with a 400 naming it, on every route', async () => {
    const ann = await app.signIn('ann', '192.0.2.10');
    const cases: [string, string, string?][] = [
      ['/conversations?q=a&q=b', 'q'],
      ['/conversations?q[]=a', 'q'],
      ['/conversations?page[x]=101', 'page'],
      ['/conversations/101:s1?limit=1&limit=2', 'limit'],
      ['/conversations/101:s1/state?x[]=1', 'x'],
      ['/stats?from=2020-01-01&from=2021-01-01', 'from'],
      ['/export?format=csv&page=101&page=102', 'page'],
      ['/models?a=1&a=2', 'a'],
      ['/me?cursor[]=1', 'cursor'],
      ['/conversations/101:s1/notes?id=1&id=2', 'id', 'POST'],
    ];
    for (const [path, name, method] of cases) {
      const r = await app.api(path, { token: ann, ...(method ? { method, json: { text: 'x' } } : {}) });
      assert.equal(r.status, 400, `${path}: ${r.status} ${JSON.stringify(r.json)}`);
      assert.match(r.json.error, new RegExp(`"${name}"`), path);
    }
    assert.equal((await app.api('/conversations?q=hello', { token: ann })).status, 200, 'a plain value is fine');
  });

  test('agent actions are done as the signed-in user: another name in the body is refused', async () => {
    const ann = await app.signIn('ann', '192.0.2.11');
    const forged = await app.api('/conversations/101:s1/takeover', { token: ann, json: { agent: 'someone-else' } });
    assert.equal(forged.status, 400);
    assert.match(forged.json.error, /"agent".*sign-in.*ann/);
    assert.equal((await app.api('/conversations/101:s1/takeover', { token: ann, json: { agent: 'ann' } })).status, 202, 'the own name is harmless');
    const state = await waitUntil('human mode', async () => {
      const s = (await app.api('/conversations/101:s1/state', { token: ann })).json;
      return s.mode === 'human' ? s : undefined;
    }, 15_000);
    assert.equal(state.agent, 'ann');
    assert.equal((await app.api('/conversations/101:s1/release', { json: { agent: 'root' } })).status, 400, 'the ADMIN_TOKEN is "admin", not a person to impersonate');
    assert.equal((await app.api('/conversations/101:s1/release', { json: {} })).status, 202);
  });

  test('password checks run off the event loop: /healthz is answered while sign-ins are being checked', async () => {
    const run = crypto.randomBytes(3).toString('hex');
    let finished = 0;
    // Unknown names cost a full scrypt too (no user enumeration by timing): twelve of them at once.
    const signIns = Array.from({ length: 12 }, (_, i) =>
      app.api('/session', { token: '', json: { user: `nobody-${run}-${i}`, password: 'not the password' }, from: `198.18.${i}.1` }).then((r) => (finished++, r)));
    // The gauge of checks in progress, read by a request of its own: a check that held the
    // event loop could never be seen running from outside it.
    const running = async () => Number(/^cb_admin_password_checks\{state="running"\} (\d+)/m.exec(await (await fetch(`${app.url}/metrics`)).text())?.[1] ?? 0);
    let healthMidCheck: number | undefined;
    while (finished < signIns.length && healthMidCheck === undefined) {
      if ((await running()) === 0) continue;
      const health = await fetch(`${app.url}/healthz`);
      if ((await running()) > 0) healthMidCheck = health.status; // answered between two moments with checks running
    }
    const results = await Promise.all(signIns);
    assert.equal(healthMidCheck, 200, 'no /healthz answer while a password check was running: checks block the event loop');
    assert.deepEqual(results.map((r) => r.status), results.map(() => 401), 'every check still ran to its answer');
  });

  test('more sign-ins at once than the gateway checks or queues are refused with 503 and Retry-After, not queued without limit', async () => {
    const run = crypto.randomBytes(3).toString('hex');
    const results = await Promise.all(Array.from({ length: 40 }, (_, i) =>
      app.api('/session', { token: '', json: { user: `crowd-${run}-${i}`, password: 'not the password' }, from: `198.19.${i}.1` })));
    const busy = results.filter((r) => r.status === 503);
    assert.ok(busy.length > 0, `all ${results.length} were queued: ${results.map((r) => r.status).join(' ')}`);
    for (const r of busy) {
      assert.match(r.json.error, /too many sign-ins/);
      assert.ok(Number(r.headers.get('retry-after')) >= 1);
    }
    assert.ok(results.every((r) => r.status === 401 || r.status === 503), results.map((r) => r.status).join(' '));
    assert.ok(results.some((r) => r.status === 401), 'the ones taken were checked');
  });
});
