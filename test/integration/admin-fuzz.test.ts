/**
 * Property-based fuzzing (fast-check) of every admin API route, listed from the router
 * itself, on a real app with real Redis and PostgreSQL. Two pages are served and hold
 * conversations; the caller is a user granted page 101 only. Whatever the query string,
 * path id, body or content type: no 500, nothing of page 102 in any answer, nothing of
 * page 102 changed, and the process keeps serving.
 */
import assert from 'node:assert/strict';
import querystring from 'node:querystring';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { adminRouter, type AdminDeps } from '../../src/admin/api';
import { ADMIN_TOKEN, startAdminApp } from '../helpers/admin';
import { bodyFor, enc, queryFor } from '../helpers/admin-fuzz';
import { routesOf } from '../helpers/routes';
import { sleep } from '../helpers/wait';

/** "METHOD /path" of every route of the admin router. Building it touches none of its dependencies: it only lists handlers. */
const adminRoutes = () => routesOf(adminRouter({} as AdminDeps));

/** Percent-decoded, leniently (a stray `%` stays): what the server read from a URL. */
const decoded = (s: string) => querystring.unescape(s.replace(/\+/g, ' '));

/** What page 102 holds: none of it may reach a user of page 101. */
const SECRET = ['ZEBRA102', 'u102a', 'u102b', 'secret102.intent', 'NOTE102'];

describe('admin API fuzzing', { timeout: 600_000 }, () => {
  let app: Awaited<ReturnType<typeof startAdminApp>>;
  let ann: string;
  let vic: string;
  const messageIds: string[] = [];
  before(async () => {
    app = await startAdminApp('adminfuzz', { TRUST_PROXY: 'loopback' });
    await app.say('101', 'u101a', 'hello, where is my order?');
    await app.say('101', 'u101b', 'I want to talk to a person');
    await app.say('102', 'u102a', 'ZEBRA102 my order never came');
    await app.say('102', 'u102b', 'ZEBRA102 hello there');
    // Everything of page 102 carries a marker: a leak of any row shows in any format.
    await app.db!.query(`UPDATE messages SET text = coalesce(text, '') || ' ZEBRA102' WHERE account_id = '102' AND coalesce(text, '') NOT LIKE '%ZEBRA102%'`);
    await app.db!.query(`UPDATE messages SET intent = 'secret102.intent' WHERE account_id = '102' AND direction = 'in'`);
    await app.db!.query(`UPDATE conversations SET last_text = 'ZEBRA102', last_intent = 'secret102.intent' WHERE account_id = '102'`);
    assert.equal((await app.api('/conversations/102:u102a/notes', { json: { text: 'NOTE102 for the team' } })).status, 201);
    messageIds.push(...(await app.db!.query<{ id: string }>('SELECT id::text AS id FROM messages ORDER BY id')).map((r) => r.id));
    ann = await app.signIn('ann');
    vic = await app.signIn('vic');
  });
  after(() => app?.stop());

  /** Markers of page 102 in an answer (but those the request itself carried: an echo is no leak). */
  const leaks = (text: string, request: string): string[] => {
    const found = SECRET.filter((s) => text.includes(s) && !request.includes(s));
    // JSON answers: no object of page 102, whatever its text.
    const scan = (v: unknown): void => {
      if (Array.isArray(v)) return v.forEach(scan);
      if (v && typeof v === 'object') {
        for (const [k, x] of Object.entries(v)) {
          if ((k === 'accountId' || k === 'account' || k === 'page') && String(x) === '102') found.push(`${k}: 102`);
          if (k === 'key' && String(x).startsWith('102:')) found.push(`key ${String(x)}`);
          scan(x);
        }
      }
    };
    for (const line of text.split('\n')) {
      try {
        scan(JSON.parse(line));
      } catch {
        // not JSON (CSV, an event stream, plain text): the markers above cover it
      }
    }
    try {
      scan(JSON.parse(text));
    } catch {
      // idem
    }
    return found;
  };

  interface Call {
    method: string;
    path: string;
    query: string;
    token: string;
    body?: { type: string; data: string } | undefined;
    from?: string;
  }
  const send = async (c: Call): Promise<{ status: number; text: string }> => {
    const ctrl = new AbortController();
    // An answer that never comes is a failure too (express 4 leaves a rejected async handler hanging).
    const timer = setTimeout(() => ctrl.abort(new Error(`no answer within 20 s: ${c.method} ${c.path}?${c.query.slice(0, 200)}`)), 20_000);
    try {
      return await exchange(c, ctrl);
    } finally {
      clearTimeout(timer);
    }
  };
  const exchange = async (c: Call, ctrl: AbortController): Promise<{ status: number; text: string }> => {
    const res = await fetch(`${app.url}/admin/api${c.path}${c.query ? `?${c.query}` : ''}`, {
      method: c.method,
      headers: { authorization: `Bearer ${c.token}`, ...(c.body?.type ? { 'content-type': c.body.type } : {}), ...(c.from ? { 'x-forwarded-for': c.from } : {}) },
      ...(c.body && c.method !== 'GET' ? { body: c.body.data } : {}),
      signal: ctrl.signal,
    });
    // The live feed never ends by itself: what it says at once is enough.
    if (res.headers.get('content-type')?.startsWith('text/event-stream')) {
      const reader = res.body!.getReader();
      const first = await Promise.race([reader.read(), sleep(1_500).then(() => ({ value: undefined }))]);
      ctrl.abort();
      return { status: res.status, text: new TextDecoder().decode(first.value ?? new Uint8Array()) };
    }
    return { status: res.status, text: await res.text() };
  };
  const statuses = new Map<string, Map<number, number>>();
  const check = (c: Call, r: { status: number; text: string }, route = `${c.method} ${c.path}`) => {
    const seen = statuses.get(route) ?? new Map<number, number>();
    statuses.set(route, seen.set(r.status, (seen.get(r.status) ?? 0) + 1));
    const what = `${c.method} ${c.path}?${c.query.slice(0, 300)} ${c.body ? `${c.body.type}: ${c.body.data.slice(0, 300)}` : ''} -> ${r.status} ${r.text.slice(0, 300)}`;
    assert.ok(r.status < 500, `server error: ${what}`);
    assert.deepEqual(leaks(r.text, `${decoded(c.path)} ${decoded(c.query)} ${c.body?.data ?? ''}`), [], `page 102 leaked: ${what}`);
    if (r.status >= 400) assert.ok(typeof JSON.parse(r.text).error === 'string' && JSON.parse(r.text).error.length > 0, `a clear error: ${what}`);
  };

  const pathId = fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom('101:u101a', '101:u101b', '102:u102a', '102:u102b', '101:nobody') },
    { weight: 1, arbitrary: fc.constantFrom('messenger:101:u101a', 'whatsapp:101:u101a', 'line:102:u102a', '999:x', '101:', ':', '101:a:b', '102:u102a:x', '..', '%', '%2F', '%3A', '101%3Au101a', '102%3Au102a', '101:u101a%00', '%E0%A4%A') },
    { weight: 1, arbitrary: fc.tuple(fc.constantFrom('101', '102', '', '1'), fc.string({ maxLength: 70 })).map(([p, u]) => enc(`${p}:${u}`)) },
    { weight: 1, arbitrary: fc.string({ maxLength: 80 }).map((x) => enc(x)) },
  );
  // Real ids of both pages (read when generating: they exist only once `before` ran), and odd ones.
  const messageId = fc.oneof(
    { weight: 3, arbitrary: fc.nat().map((i) => messageIds[i % messageIds.length]!) },
    fc.bigInt().map(String),
    fc.string({ maxLength: 30 }).map((x) => enc(x)),
    fc.constantFrom('0', '-1', '1.5', '9223372036854775808', '1e3'),
  );

  // A failure's inputs can hold strings of thousands of characters, and each shrinking step is an HTTP
  // exchange: on a loaded machine shrinking alone outran the suite's timeout, hiding which input failed.
  // After a minute a property stops and reports the smallest failing input found so far (or passes
  // with the runs it made, if none failed).
  fc.configureGlobal({ ...fc.readConfigureGlobal(), interruptAfterTimeLimit: 60_000 });

  /** Runs of each route: a minute or two for the whole set. */
  const RUNS: Record<string, number> = { 'POST /session': 40, 'DELETE /session': 20, 'GET /live': 25, 'POST /models/retrain': 40, 'POST /models/rollback': 40, 'GET /openapi.json': 20 };
  const DEFAULT_RUNS = 150;
  /** The agent inbox's routes (test/helpers/admin-fuzz.ts has their inputs): fewer runs each, there are many. */
  const INBOX_ROUTES = [
    'GET /inbox/waiting',
    'GET /inbox/agents',
    'POST /inbox/presence',
    'GET /conversations/:id/inbox',
    'POST /conversations/:id/claim',
    'POST /conversations/:id/assign',
    'POST /conversations/:id/unassign',
    'POST /conversations/:id/resolve',
    'POST /conversations/:id/snooze',
    'POST /conversations/:id/typing',
    'GET /conversations/:id/suggestion',
    'GET /canned',
    'POST /canned',
    'DELETE /canned/:cid',
    'GET /conversations/:id/canned',
    'POST /conversations/:id/attachments',
    'GET /kpis',
  ];
  for (const r of INBOX_ROUTES) RUNS[r] = 60;
  // Its body has two forms and a valid one must also hit a conversation of page 101 as an agent: more runs.
  RUNS['POST /conversations/:id/snooze'] = 120;

  test('the fuzzers below cover every route of the admin router', () => {
    assert.deepEqual(adminRoutes().sort(), [
      'DELETE /canned/:cid',
      'DELETE /session',
      'GET /canned',
      'GET /conversations',
      'GET /conversations/:id',
      'GET /conversations/:id/canned',
      'GET /conversations/:id/inbox',
      'GET /conversations/:id/presence',
      'GET /conversations/:id/state',
      'GET /conversations/:id/suggestion',
      'GET /export',
      'GET /inbox/agents',
      'GET /inbox/waiting',
      'GET /kpis',
      'GET /live',
      'GET /me',
      'GET /models/',
      'GET /openapi.json',
      'GET /stats',
      'POST /canned',
      'POST /conversations/:id/assign',
      'POST /conversations/:id/attachments',
      'POST /conversations/:id/claim',
      'POST /conversations/:id/forget',
      'POST /conversations/:id/notes',
      'POST /conversations/:id/release',
      'POST /conversations/:id/reply',
      'POST /conversations/:id/resolve',
      'POST /conversations/:id/snooze',
      'POST /conversations/:id/takeover',
      'POST /conversations/:id/typing',
      'POST /conversations/:id/unassign',
      'POST /inbox/presence',
      'POST /messages/:mid/label',
      'POST /models/retrain',
      'POST /models/rollback',
      'POST /session',
    ]);
  });

  for (const route of [
    'GET /conversations',
    'GET /conversations/:id',
    'GET /conversations/:id/presence',
    'GET /conversations/:id/state',
    'GET /export',
    'GET /live',
    'GET /me',
    'GET /models/',
    'GET /openapi.json',
    'GET /stats',
    'POST /conversations/:id/forget',
    'POST /conversations/:id/notes',
    'POST /conversations/:id/release',
    'POST /conversations/:id/reply',
    'POST /conversations/:id/takeover',
    'POST /messages/:mid/label',
    'POST /models/retrain',
    'POST /models/rollback',
    ...INBOX_ROUTES,
  ]) {
    test(`${route}: any query, id and body, as a user of page 101: no 500, nothing of page 102`, async () => {
      const [method, template] = route.split(' ') as [string, string];
      await fc.assert(
        fc.asyncProperty(queryFor(route), pathId, messageId, bodyFor(route), fc.nat(3), async (query, id, mid, b, who) => {
          const asViewer = who === 0; // mostly the agent, who may do more
          const c: Call = { method, path: template.replace(':id', id).replace(':mid', mid).replace(':cid', mid).replace(/\/$/, ''), query, token: asViewer ? vic : ann, body: b };
          check(c, await send(c), route);
        }),
        { numRuns: RUNS[route] ?? DEFAULT_RUNS },
      );
    });
  }

  test('POST /session: any body, content type and query: no 500, a clear error, a session only for the right password', async () => {
    let n = 0;
    await fc.assert(
      fc.asyncProperty(queryFor('POST /session'), bodyFor('POST /session'), async (query, b) => {
        // Each try from an address of its own: the per-address limit is tested elsewhere.
        const c: Call = { method: 'POST', path: '/session', query, token: 'none', body: b, from: `10.9.${Math.floor(n / 250)}.${n++ % 250}` };
        const r = await send(c);
        check(c, r);
        assert.notEqual(r.status, 201, `a session from a guess: ${b?.data.slice(0, 200)}`);
      }),
      { numRuns: RUNS['POST /session'] },
    );
  });

  test("DELETE /session: any query and body end only the caller's own session", async () => {
    await fc.assert(
      fc.asyncProperty(queryFor('DELETE /session'), bodyFor('DELETE /session'), async (query, b) => {
        const own = await app.signIn('bob', '10.8.0.1');
        const c: Call = { method: 'DELETE', path: '/session', query, token: own, body: b };
        const r = await send(c);
        check(c, r);
        // The ended token is a failed authentication: counted against an address of its own, or
        // 20 runs that all end their session would limit this host, and the ADMIN_TOKEN checks below with it.
        if (r.status === 204) assert.equal((await app.api('/me', { token: own, from: '10.8.1.1' })).status, 401);
        assert.equal((await app.api('/me', { token: ann })).status, 200, 'another session lives on');
      }),
      { numRuns: RUNS['DELETE /session'] },
    );
  });

  test('after the fuzzing: nothing of page 102 was changed by the user of page 101, and the process still serves', async (t) => {
    const [notes] = await app.db!.query<{ n: number }>(`SELECT count(*)::int AS n FROM notes n JOIN conversations c ON c.id = n.conversation_id WHERE c.account_id = '102' AND n.author <> 'admin'`);
    assert.equal(notes!.n, 0, 'no note on page 102');
    const [labels] = await app.db!.query<{ n: number }>(`SELECT count(*)::int AS n FROM messages WHERE account_id = '102' AND corrected_by IS NOT NULL`);
    assert.equal(labels!.n, 0, 'no label corrected on page 102');
    await sleep(1_000); // agent actions queued by the fuzzing are processed by now
    for (const user of ['u102a', 'u102b']) {
      assert.ok(!app.fakeGraph!.messagesTo(user).some((m) => m.body.tag === 'HUMAN_AGENT'), `no agent message to ${user}`);
      assert.equal((await app.api(`/conversations/102:${user}/state`, { token: ADMIN_TOKEN })).json.mode, 'bot', `${user} was not taken over`);
    }
    assert.equal((await fetch(`${app.url}/healthz`)).status, 200);
    for (const [route, seen] of statuses)
      t.diagnostic(
        `${route}: ${[...seen]
          .sort()
          .map(([status, n]) => `${n}× ${status}`)
          .join(', ')}`,
      );
    // The inputs reached the handlers, not only the checks in front of them (retrain,
    // rollback and erasure need an admin: test/integration/privacy.test.ts erases as one;
    // a guessed password never signs in; canned replies are managed by admins; a user's presence
    // exists on web chat conversations, which a user of page 101 cannot see:
    // test/e2e/channel-webchat-admin.test.ts reads it).
    for (const [route, seen] of statuses) {
      if (['POST /models/retrain', 'POST /models/rollback', 'POST /conversations/:id/forget', 'POST /session', 'POST /canned', 'DELETE /canned/:cid', 'GET /conversations/:id/presence'].includes(route)) continue;
      assert.ok(
        [...seen.keys()].some((st) => st < 300),
        `${route} never succeeded: ${JSON.stringify(Object.fromEntries(seen))}`,
      );
    }
    assert.equal((await app.api('/me', { token: ann })).json.name, 'ann');
  });
});
