/**
 * Admin API hardening (issue #13), against a real app on real Redis and PostgreSQL: sign-in
 * that cannot stall the event loop, limits that cannot be bypassed nor turned against an
 * account's owner, the agent taken from the sign-in, and input that reaches no 500 (query
 * parameters, NUL characters, ids, cursors). Sessions that follow revocation: admin-sessions.
 * The app trusts the loopback proxy (TRUST_PROXY), so each test plays its clients from
 * addresses of its own through X-Forwarded-For.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { ADMIN_TOKEN, PASSWORD, startAdminApp } from '../helpers/admin';
import { startTestApp } from '../helpers/app';
import { redisTargets } from '../helpers/env';
import { sleep, waitUntil } from '../helpers/wait';

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
      ['/export?format=csv&format=jsonl', 'format'],
      ['/export?format=csv&page[x]=101', 'page'],
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
    const lists = await fetch(`${app.url}/admin/api/export?format=jsonl&page=101&page=102&intent=a&intent=b`, { headers: { authorization: `Bearer ${ann}` } });
    assert.equal(lists.status, 200, "the export's documented lists may repeat their name");
    await lists.text();
  });

  test('agent actions are done as the signed-in user: another name in the body is refused', async () => {
    const ann = await app.signIn('ann', '192.0.2.11');
    const forged = await app.api('/conversations/101:s1/takeover', { token: ann, json: { agent: 'someone-else' } });
    assert.equal(forged.status, 400);
    assert.match(forged.json.error, /"agent".*sign-in.*ann/);
    assert.equal((await app.api('/conversations/101:s1/takeover', { token: ann, json: { agent: 'ann' } })).status, 202, 'the own name is harmless');
    const state = await waitUntil(
      'human mode',
      async () => {
        const s = (await app.api('/conversations/101:s1/state', { token: ann })).json;
        return s.mode === 'human' ? s : undefined;
      },
      15_000,
    );
    assert.equal(state.agent, 'ann');
    assert.equal((await app.api('/conversations/101:s1/release', { json: { agent: 'root' } })).status, 400, 'the ADMIN_TOKEN is "admin", not a person to impersonate');
    assert.equal((await app.api('/conversations/101:s1/release', { json: {} })).status, 202);
  });

  test('password checks run off the event loop: /healthz is answered while sign-ins are being checked', async () => {
    const run = crypto.randomBytes(3).toString('hex');
    let finished = 0;
    // Unknown names cost a full scrypt too (no user enumeration by timing): twelve of them at once.
    const signIns = Array.from({ length: 12 }, (_, i) => app.api('/session', { token: '', json: { user: `nobody-${run}-${i}`, password: 'not the password' }, from: `198.18.${i}.1` }).then((r) => (finished++, r)));
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
    assert.deepEqual(
      results.map((r) => r.status),
      results.map(() => 401),
      'every check still ran to its answer',
    );
  });

  test('more sign-ins at once than the gateway checks or queues are refused with 503 and Retry-After, not queued without limit', async () => {
    const run = crypto.randomBytes(3).toString('hex');
    const results = await Promise.all(Array.from({ length: 40 }, (_, i) => app.api('/session', { token: '', json: { user: `crowd-${run}-${i}`, password: 'not the password' }, from: `198.19.${i}.1` })));
    const busy = results.filter((r) => r.status === 503);
    assert.ok(busy.length > 0, `all ${results.length} were queued: ${results.map((r) => r.status).join(' ')}`);
    for (const r of busy) {
      assert.match(r.json.error, /too many sign-ins/);
      assert.ok(Number(r.headers.get('retry-after')) >= 1);
    }
    assert.ok(
      results.every((r) => r.status === 401 || r.status === 503),
      results.map((r) => r.status).join(' '),
    );
    assert.ok(
      results.some((r) => r.status === 401),
      'the ones taken were checked',
    );
  });

  test('30 concurrent wrong passwords for one account, from 30 addresses: at most 5 reach the password check, the rest are slowed down (429)', async () => {
    const results = await Promise.all(Array.from({ length: 30 }, (_, i) => app.api('/session', { token: '', json: { user: 'bob', password: `guess-${i}` }, from: `203.0.113.${i + 1}` })));
    const checked = results.filter((r) => r.status === 401).length;
    assert.ok(checked >= 1 && checked <= 5, `${checked} guesses reached the password check`);
    const slowed = results.filter((r) => r.status === 429);
    assert.equal(slowed.length, 30 - checked, results.map((r) => r.status).join(' '));
    for (const r of slowed) {
      assert.match(r.json.error, /slowed down/);
      assert.ok(Number(r.headers.get('retry-after')) >= 1 && Number(r.headers.get('retry-after')) <= 60, r.headers.get('retry-after') ?? 'no Retry-After');
    }
  });

  test('token guesses are counted as token guesses whatever "user" they carry', async () => {
    const results = await Promise.all(Array.from({ length: 30 }, (_, i) => app.api('/session', { token: '', json: { token: `guess-${i}-xxxxxxxxxxxxxxxx`, user: `rotating-${i}` }, from: `203.0.114.${i + 1}` })));
    const checked = results.filter((r) => r.status === 401).length;
    assert.ok(checked >= 1 && checked <= 5, `${checked} token guesses were checked: ${results.map((r) => r.status).join(' ')}`);
    const neither = await app.api('/session', { token: '', json: { user: 'ann' }, from: '203.0.114.99' });
    assert.equal(neither.status, 400);
    assert.match(neither.json.error, /"password"/);
  });

  test('wrong bearer tokens are limited per address (429 with Retry-After); the right token then waits too; a live session still works', async () => {
    const from = '203.0.115.7';
    const session = await app.signIn('ann', from);
    const statuses: number[] = [];
    for (let i = 0; i < 25; i++) statuses.push((await app.api('/me', { token: `wrong-${i}-bearer-token-xxxx`, from })).status);
    assert.deepEqual(statuses, [...Array(20).fill(401), ...Array(5).fill(429)]);
    const limited = await app.api('/me', { token: 'yet-another-guess-xxxxxxxxxx', from });
    assert.match(limited.json.error, /too many failed/);
    assert.ok(Number(limited.headers.get('retry-after')) > 0);
    assert.equal((await app.api('/me', { token: ADMIN_TOKEN, from })).status, 429, 'a right guess is not told apart while the address is limited');
    assert.equal((await app.api('/me', { token: session, from })).status, 200, 'a session (192 random bits) is not a guess: it keeps working');
    assert.equal((await app.api('/me', { token: ADMIN_TOKEN, from: '203.0.115.8' })).status, 200, 'another address is not limited');
  });

  test('an attacker hammering an account from one address slows it down; its owner, elsewhere, gets in after the Retry-After', async () => {
    const attacker = '198.51.100.66';
    const hammer = () => app.api('/session', { token: '', json: { user: 'vic', password: 'hunter2-hunter2' }, from: attacker });
    const burst = await Promise.all(Array.from({ length: 25 }, hammer));
    assert.ok(
      burst.every((r) => r.status === 401 || r.status === 429),
      burst.map((r) => r.status).join(' '),
    );
    const owner = () => app.api('/session', { token: '', json: { user: 'vic', password: PASSWORD }, from: '192.0.2.77' });
    let first = await owner();
    // The attacker keeps at it while the owner waits: refused by its own address's limit.
    const stop = { now: false };
    const attacking = (async () => {
      while (!stop.now) assert.equal((await hammer()).status, 429);
    })();
    try {
      if (first.status === 429) {
        assert.match(first.json.error, /slowed down/);
        const wait = Number(first.headers.get('retry-after'));
        assert.ok(wait >= 1 && wait <= 60, `Retry-After ${wait}`);
        await sleep(wait * 1000);
        first = await owner();
      }
      assert.equal(first.status, 201, JSON.stringify(first.json));
    } finally {
      stop.now = true;
      await attacking;
    }
  });

  test('TRUST_PROXY: with it X-Forwarded-For is the client address; without it the header is ignored', async () => {
    // This app trusts the loopback proxy: one address's failures do not limit another's.
    for (let i = 0; i < 21; i++) await app.api('/me', { token: `bad-${i}-token-xxxxxxxxxxxx`, from: '203.0.116.1' });
    assert.equal((await app.api('/me', { token: 'bad-token-xxxxxxxxxxxxxxxx', from: '203.0.116.1' })).status, 429);
    assert.equal((await app.api('/me', { token: 'bad-token-xxxxxxxxxxxxxxxx', from: '203.0.116.2' })).status, 401);
    // An app without TRUST_PROXY: a client cannot escape its limit by writing the header.
    const plain = await startTestApp('adminsecnoproxy', { ...redisTargets()[0]!.env, ROLE: 'gateway', ADMIN_TOKEN });
    try {
      const me = (token: string, from: string) => fetch(`${plain.url}/admin/api/me`, { headers: { authorization: `Bearer ${token}`, 'x-forwarded-for': from } });
      const statuses: number[] = [];
      for (let i = 0; i < 22; i++) statuses.push((await me(`bad-${i}-token-xxxxxxxxxxxx`, `203.0.117.${i + 1}`)).status);
      assert.deepEqual(statuses, [...Array(20).fill(401), 429, 429]);
    } finally {
      await plain.stop();
    }
  });

  test("ids past PostgreSQL's bigint and hand-made cursors are a 404 or 400, not a 500 (found by fuzzing)", async () => {
    const ann = await app.signIn('ann', '192.0.2.12');
    for (const id of ['9223372036854775808', '99999999999999999999999']) {
      const r = await app.api(`/messages/${id}/label`, { token: ann, json: { correct: true } });
      assert.equal(r.status, 404, `${id}: ${JSON.stringify(r.json)}`);
      assert.equal((await app.api(`/messages/${id}/label`, { token: ann, json: { intent: 'order.status' } })).status, 404);
    }
    const cursor = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
    for (const bad of [cursor(['not a time', '1']), cursor(['2020-01-01T00:00:00.000Z', '9223372036854775808']), cursor(['2020-01-01T00:00:00.000Z', 1e21])]) {
      const r = await app.api(`/conversations?cursor=${bad}`, { token: ann });
      assert.equal(r.status, 400, `${Buffer.from(bad, 'base64url').toString()}: ${JSON.stringify(r.json)}`);
      assert.match(r.json.error, /cursor/);
    }
  });

  test('a NUL character, which PostgreSQL cannot store, is refused with a 400 naming where it is, in a query or a body (found by fuzzing)', async () => {
    const ann = await app.signIn('ann', '192.0.2.13');
    for (const path of ['/conversations?intent=%00', '/conversations?q=a%00b', '/stats?page=1%000']) {
      const r = await app.api(path, { token: path.startsWith('/stats') ? ADMIN_TOKEN : ann });
      assert.equal(r.status, 400, `${path}: ${JSON.stringify(r.json)}`);
      assert.match(r.json.error, /"(intent|q|page)".*NUL/);
    }
    const note = await app.api('/conversations/101:s1/notes', { token: ann, json: { text: 'a\u0000b' } });
    assert.equal(note.status, 400, JSON.stringify(note.json));
    assert.match(note.json.error, /"text".*NUL/);
    const sent = app.fakeGraph!.calls.length;
    const reply = await app.api('/conversations/101:s1/reply', { token: ann, json: { text: 'hello\u0000there' } });
    assert.equal(reply.status, 400, 'not queued: the chatlog could not store it');
    assert.match(reply.json.error, /"text".*NUL/);
    assert.equal(app.fakeGraph!.calls.length, sent);
    const deep = await fetch(`${app.url}/admin/api/conversations/101:s1/notes`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ann}`, 'content-type': 'application/json' },
      body: `{"text":${'['.repeat(30_000)}${']'.repeat(30_000)}}`,
    });
    assert.equal(deep.status, 400, 'a body nested 30,000 deep is refused, not walked');
  });

  test('a Redis error under the models routes is answered (500, JSON), not left hanging nor an unhandled rejection (found by fuzzing)', async () => {
    const gw = await startTestApp('adminsecmodels', { ...redisTargets()[0]!.env, ROLE: 'gateway', ADMIN_TOKEN });
    const rejections: unknown[] = [];
    const onRejection = (r: unknown) => rejections.push(r);
    process.on('unhandledRejection', onRejection);
    try {
      await gw.redis.set(`${gw.prefix}:{nlu}:history`, 'not a list'); // LRANGE now fails with WRONGTYPE
      for (const [method, path] of [
        ['GET', '/models'],
        ['POST', '/models/rollback'],
      ] as const) {
        const res = await fetch(`${gw.url}/admin/api${path}`, { method, headers: { authorization: `Bearer ${ADMIN_TOKEN}` }, signal: AbortSignal.timeout(10_000) });
        assert.equal(res.status, 500, path);
        assert.equal(((await res.json()) as { error: string }).error, 'internal error');
      }
      await sleep(100);
      assert.deepEqual(rejections, []);
    } finally {
      process.off('unhandledRejection', onRejection);
      await gw.stop();
    }
  });
});
