/**
 * Admin API hardening (issue #13), against a real app on real Redis and PostgreSQL: sessions
 * that follow revocation, sign-in that cannot stall the event loop, rate limits that cannot
 * be bypassed nor turned against an account's owner, the agent taken from the sign-in, and
 * query parameters that are plain strings. The app trusts the loopback proxy (TRUST_PROXY),
 * so each test plays its clients from addresses of its own through X-Forwarded-For.
 */
import assert from 'node:assert/strict';
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
});
