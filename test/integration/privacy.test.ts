/**
 * The right to be forgotten and data retention, against real Redis and PostgreSQL: Meta's
 * data-deletion callback (signed as Meta signs it) and its status page, the admin action
 * (admins only, within their accounts), `npm run forget` as a process, the tombstone against
 * records still on their way, and CHATLOG_RETENTION_DAYS.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parseSignedRequest } from '../../src/channels/meta/data-deletion';
import { PassThrough } from 'node:stream';
import { exportMessages, parseExportFilters } from '../../src/chatlog/export';
import { purgeBefore } from '../../src/chatlog/forget';
import { writeBatch } from '../../src/chatlog/writer';
import { conversationKey } from '../../src/channels/conversation';
import { startAdminApp } from '../helpers/admin';
import { redisTargets } from '../helpers/env';
import { APP_SECRET } from '../helpers/fb';
import { waitUntil } from '../helpers/wait';

const ROOT = path.resolve(__dirname, '..', '..');

/** A signed_request exactly as Meta makes one: base64url HMAC-SHA256 of the base64url payload, with the app secret. */
function signedRequest(payload: Record<string, unknown>, secret = APP_SECRET): string {
  const p = Buffer.from(JSON.stringify(payload)).toString('base64url');
  return `${crypto.createHmac('sha256', secret).update(p).digest('base64url')}.${p}`;
}

test('a signed_request is read only with the app secret’s signature and the documented payload', () => {
  const now = Math.floor(Date.now() / 1000);
  assert.deepEqual(parseSignedRequest(signedRequest({ algorithm: 'HMAC-SHA256', user_id: '1234', issued_at: now }), APP_SECRET), { ok: true, userId: '1234', issuedAt: now });
  assert.equal((parseSignedRequest(signedRequest({ algorithm: 'HMAC-SHA256', user_id: 99 }), APP_SECRET) as { userId: string }).userId, '99', 'a numeric id');
  // Meta pads nothing; some clients add '=': both read.
  const [sig, p] = signedRequest({ algorithm: 'HMAC-SHA256', user_id: '1' }).split('.');
  assert.equal(parseSignedRequest(`${sig}=.${p}`, APP_SECRET).ok, true);
  for (const [input, why] of [
    [signedRequest({ algorithm: 'HMAC-SHA256', user_id: '1' }, 'another-secret'), /signature does not match/],
    [signedRequest({ algorithm: 'HMAC-SHA1', user_id: '1' }), /algorithm/],
    [signedRequest({ algorithm: 'HMAC-SHA256' }), /user_id/],
    [signedRequest({ algorithm: 'HMAC-SHA256', user_id: '../x y' }), /user_id/],
    ['no-dot', /<signature>\.<payload>/],
    [undefined, /required/],
  ] as const) {
    const r = parseSignedRequest(input, APP_SECRET);
    assert.ok(!r.ok && why.test(r.reason), `${String(input).slice(0, 20)}: ${JSON.stringify(r)}`);
  }
});

/** Meta's data-deletion callback for one user id: a signed form POST. */
function deletionCallback(url: string, userId: string): Promise<Response> {
  const form = new URLSearchParams({ signed_request: signedRequest({ algorithm: 'HMAC-SHA256', user_id: userId, issued_at: Math.floor(Date.now() / 1000) }) });
  return fetch(`${url}/facebook/data-deletion`, { method: 'POST', body: form });
}

describe('erasure and retention', () => {
  let app: Awaited<ReturnType<typeof startAdminApp>>;
  before(async () => {
    app = await startAdminApp('privacy');
  });
  after(() => app.stop());
  const keysOf = async (conversation: string) => (await app.redis.keys(`${app.prefix}:{${conversation}}:*`)).map((k) => k.slice(k.lastIndexOf(':') + 1)).sort();
  const rows = async (user: string) => Number((await app.db!.query<{ n: string }>('SELECT count(*) n FROM messages m JOIN conversations c ON c.id = m.conversation_id WHERE c.user_id = $1', [user]))[0]!.n);

  test('Meta’s callback erases the user on every channel, answers {url, confirmation_code}, and the status page says what was done', async () => {
    await app.say('101', 'erin', 'where is my order SH-482913');
    await app.say('102', 'erin', 'hello from the other page');
    await app.say('101', 'frank', 'I stay');
    const erin101 = conversationKey({ channel: 'messenger', account: '101', user: 'erin' });
    assert.ok((await keysOf(erin101)).includes('ctx'), 'the dialog context holds the order number');
    assert.equal(await rows('erin'), 4, 'two messages and two replies');

    const form = new URLSearchParams({ signed_request: signedRequest({ algorithm: 'HMAC-SHA256', user_id: 'erin', issued_at: Math.floor(Date.now() / 1000) }) });
    const res = await fetch(`${app.url}/facebook/data-deletion`, { method: 'POST', body: form });
    assert.equal(res.status, 200);
    const answer = (await res.json()) as { url: string; confirmation_code: string };
    assert.match(answer.confirmation_code, /^[A-Za-z0-9_-]{16}$/);
    assert.equal(answer.url, `${app.url}/facebook/data-deletion/status?code=${answer.confirmation_code}`);

    assert.equal(await rows('erin'), 0, 'chatlog rows gone on both pages');
    assert.deepEqual(await keysOf(erin101), ['seen'], 'only the dedupe markers stay (ids, no content), so a redelivery is not answered again');
    assert.equal(await rows('frank'), 2, 'another user is untouched');
    const page = await fetch(answer.url);
    assert.equal(page.headers.get('content-security-policy'), "default-src 'none'");
    const html = await page.text();
    assert.match(html, /Your data was deleted: 2 conversation\(s\) and 4 message\(s\)\./);
    assert.doesNotMatch(html, /erin|SH-482913/, 'the status page shows nothing of the user');
    assert.equal((await fetch(`${app.url}/facebook/data-deletion/status?code=not-a-real-code-123`)).status, 404);

    const forged = new URLSearchParams({ signed_request: signedRequest({ algorithm: 'HMAC-SHA256', user_id: 'frank' }, 'guessed-secret') });
    assert.equal((await fetch(`${app.url}/facebook/data-deletion`, { method: 'POST', body: forged })).status, 403);
    assert.equal(await rows('frank'), 2, 'a forged request erases nothing');
  });

  test('without FB_APP_ID the callback erases only what is stored under the id it is sent: no page-scoped look-up', async () => {
    await app.say('101', 'psid-of-xena', 'I wrote as a page-scoped id');
    app.fakeGraph!.idsForPages.set('asid-of-xena', [{ page: '101', psid: 'psid-of-xena' }]);
    const res = await deletionCallback(app.url, 'asid-of-xena');
    assert.equal(res.status, 200);
    assert.equal(await rows('psid-of-xena'), 2, "the app-scoped id is not resolved: the PSID's conversation stays (FB_APP_ID is needed)");
  });

  test('a record made before the erasure but written after it does not bring the conversation back', async () => {
    await app.say('101', 'gina', 'my email is gina@example.com');
    const before = Date.now();
    const r = await app.api(`/conversations/${conversationKey({ channel: 'messenger', account: '101', user: 'gina' })}/forget`, { json: {} });
    assert.equal(r.status, 200);
    // A worker's record of an earlier message, still in the stream when the erasure ran.
    await writeBatch(app.db!, [{ t: 'msg', channel: 'messenger', account: '101', user: 'gina', mid: 'm-gina-late', direction: 'in', kind: 'text', text: 'late', platformTs: before - 1_000 }]);
    assert.equal(await rows('gina'), 0);
    // What she writes after the erasure is a new conversation, logged as usual.
    await app.say('101', 'gina', 'hello again');
    assert.equal(await rows('gina'), 2);
  });

  test('the admin action: admins only, within their accounts; it answers with what it erased', async () => {
    await app.say('101', 'hugo', 'hi');
    const key = conversationKey({ channel: 'messenger', account: '101', user: 'hugo' });
    const ann = await app.signIn('ann'); // agent of page 101
    assert.equal((await app.api(`/conversations/${key}/forget`, { token: ann, json: {} })).status, 403);
    assert.equal((await app.api(`/conversations/102:hugo/forget`, { json: {} })).status, 200, 'admin of every page: nothing to erase is fine');
    const r = await app.api(`/conversations/${key}/forget`, { json: {} });
    assert.equal(r.status, 200);
    assert.deepEqual([r.json.erased.conversations, r.json.erased.messages], [1, 2]);
    assert.ok(r.json.erased.redisKeys >= 1);
    assert.match(r.json.confirmationCode, /^[A-Za-z0-9_-]{16}$/);
    assert.equal((await app.api('/conversations/999:hugo/forget', { json: {} })).status, 404, 'an account this deployment does not serve');
    assert.equal((await app.api('/conversations/nope/forget', { json: {} })).status, 400);
  });

  test('npm run forget erases one user on one channel and prints the confirmation code; bad arguments exit 2', () => {
    const env = { ...process.env, ...redisTargets()[0]!.env, REDIS_PREFIX: app.prefix, DATABASE_URL: app.databaseUrl, NODE_ENV: 'test', LOG_LEVEL: 'silent' };
    const cli = (args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/forget.ts', ...args], { cwd: ROOT, env, encoding: 'utf8' });
    return (async () => {
      await app.say('102', 'ivy', 'please forget me');
      const r = cli(['--user', 'ivy', '--channel', 'messenger', '--account', '102', '--by', 'dpo@shop']);
      assert.equal(r.status, 0, r.stderr);
      const out = JSON.parse(r.stdout);
      assert.deepEqual([out.erased.conversations, out.erased.messages], [1, 2]);
      assert.deepEqual(out.conversations, [{ channel: 'messenger', account: '102', user: 'ivy' }]);
      assert.equal(await rows('ivy'), 0);
      const [req] = await app.db!.query<{ requested_by: string; completed_at: unknown }>('SELECT requested_by, completed_at FROM deletion_requests WHERE code = $1', [out.confirmationCode]);
      assert.deepEqual([req!.requested_by, req!.completed_at !== null], ['dpo@shop', true], 'who asked is recorded');
      assert.equal(cli(['--account', '102', '--user', 'x']).status, 2, '--account needs --channel');
      assert.equal(cli([]).status, 2);
      assert.equal(cli(['--user', 'a b']).status, 2);
    })();
  });

  test('retention: messages older than the horizon are purged in batches, their empty conversations too; newer ones stay', async () => {
    const old = Date.now() - 40 * 86_400_000;
    const recs = Array.from({ length: 25 }, (_, i) => ({
      t: 'msg' as const,
      channel: 'messenger',
      account: '101',
      user: `old${i % 3}`,
      mid: `old-${i}`,
      direction: 'in' as const,
      kind: 'text',
      text: 'old',
      platformTs: old + i,
      receivedAt: old + i,
    }));
    await writeBatch(app.db!, [...recs, { t: 'msg', channel: 'messenger', account: '101', user: 'old0', mid: 'new-0', direction: 'in', kind: 'text', text: 'new', platformTs: Date.now(), receivedAt: Date.now() }]);
    // Exports honour the retention before the purge has run.
    const out = new PassThrough();
    const chunks: Buffer[] = [];
    out.on('data', (c: Buffer) => chunks.push(c));
    await exportMessages(app.db!, parseExportFilters({ 'raw-ids': 'true', dedupe: 'false' }), 'jsonl', out, { retentionDays: 30 });
    const exported = Buffer.concat(chunks)
      .toString('utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { text: string; user: string });
    assert.ok(exported.some((l) => l.text === 'new') && !exported.some((l) => l.text === 'old'), 'nothing older than the retention is exported');
    const r = await purgeBefore(app.db!, new Date(Date.now() - 30 * 86_400_000), 10);
    assert.ok(r.messages >= 25, `purged ${r.messages}`);
    assert.equal(await rows('old0'), 1, 'the new message stays');
    assert.equal(await rows('old1'), 0);
    const convs = await app.db!.query<{ user_id: string }>("SELECT user_id FROM conversations WHERE user_id LIKE 'old%' ORDER BY 1");
    assert.deepEqual(
      convs.map((c) => c.user_id),
      ['old0'],
      'conversations left without messages are gone',
    );
    await waitUntil('nothing left to purge', async () => (await purgeBefore(app.db!, new Date(Date.now() - 30 * 86_400_000))).messages === 0, 5_000);
  });
});

describe('the data-deletion callback with FB_APP_ID: app-scoped ids resolved to page-scoped ones (ids_for_pages)', () => {
  const APP_ID = '424242';
  let app: Awaited<ReturnType<typeof startAdminApp>>;
  before(async () => {
    app = await startAdminApp('privacy-asid', { FB_APP_ID: APP_ID });
  });
  after(() => app.stop());
  const graph = () => app.fakeGraph!;
  const keysOf = async (conversation: string) => (await app.redis.keys(`${app.prefix}:{${conversation}}:*`)).map((k) => k.slice(k.lastIndexOf(':') + 1)).sort();
  const rows = async (user: string) => Number((await app.db!.query<{ n: string }>('SELECT count(*) n FROM messages m JOIN conversations c ON c.id = m.conversation_id WHERE c.user_id = $1', [user]))[0]!.n);
  const requests = async () => Number((await app.db!.query<{ n: string }>('SELECT count(*) n FROM deletion_requests'))[0]!.n);

  test('the fake answers ids_for_pages like Graph: the app access token and its appsecret_proof, paging, unknown ids', async () => {
    graph().idsForPages.set('asid-probe', [
      { page: '101', psid: 'p1' },
      { page: '102', psid: 'p2' },
      { page: '103', psid: 'p3' },
    ]);
    const base = `${app.url}/_dev/graph/v21.0`;
    const token = `${APP_ID}|${APP_SECRET}`;
    const proof = crypto.createHmac('sha256', APP_SECRET).update(token).digest('hex');
    const get = async (q: Record<string, string>, id = 'asid-probe') => {
      const res = await fetch(`${base}/${id}/ids_for_pages?${new URLSearchParams(q)}`);
      return { status: res.status, json: (await res.json()) as any };
    };
    const bad = await get({ access_token: 'EAA-page-token', appsecret_proof: proof });
    assert.deepEqual([bad.status, bad.json.error.type, bad.json.error.code], [400, 'OAuthException', 190]);
    assert.equal((await get({ access_token: token, appsecret_proof: '00' })).status, 400, 'a wrong appsecret_proof');
    const first = await get({ access_token: token, appsecret_proof: proof, limit: '2' });
    assert.equal(first.status, 200);
    assert.deepEqual(
      first.json.data.map((e: any) => [e.id, e.page.id]),
      [
        ['p1', '101'],
        ['p2', '102'],
      ],
    );
    assert.match(first.json.paging.next, /after=/);
    const rest = await get({ access_token: token, appsecret_proof: proof, limit: '2', after: first.json.paging.cursors.after });
    assert.deepEqual([rest.json.data.map((e: any) => e.id), rest.json.paging.next], [['p3'], undefined]);
    const unknown = await get({ access_token: token, appsecret_proof: proof }, 'asid-nobody');
    assert.deepEqual([unknown.status, unknown.json.error.code, unknown.json.error.error_subcode], [400, 100, 33]);
  });

  test('one callback with the ASID erases the user on both pages (two PSIDs) and under the raw id, as one request; another user is untouched', async () => {
    await app.say('101', 'psid-olga-101', 'where is my order SH-482913');
    await app.say('102', 'psid-olga-102', 'hello from the other page');
    await app.say('101', 'psid-pete-101', 'I stay');
    const olga101 = conversationKey({ channel: 'messenger', account: '101', user: 'psid-olga-101' });
    const olga102 = conversationKey({ channel: 'messenger', account: '102', user: 'psid-olga-102' });
    assert.ok((await keysOf(olga101)).includes('ctx'), 'the dialog context holds the order number');
    // Three entries, one per answer: the callback follows the cursor. Page 999 is not ours: skipped.
    graph().idsPageSize = 1;
    graph().idsForPages.set('asid-olga', [
      { page: '101', psid: 'psid-olga-101' },
      { page: '999', psid: 'psid-olga-999' },
      { page: '102', psid: 'psid-olga-102' },
    ]);
    graph().idsForPages.set('asid-pete', [{ page: '101', psid: 'psid-pete-101' }]);

    const res = await deletionCallback(app.url, 'asid-olga');
    assert.equal(res.status, 200);
    const answer = (await res.json()) as { url: string; confirmation_code: string };
    assert.equal(await rows('psid-olga-101'), 0);
    assert.equal(await rows('psid-olga-102'), 0);
    assert.deepEqual(await keysOf(olga101), ['seen'], 'the context and queues are gone; only the dedupe markers stay');
    assert.deepEqual(await keysOf(olga102), ['seen']);
    assert.equal(await rows('psid-pete-101'), 2, 'another user is untouched');
    const html = await (await fetch(answer.url)).text();
    assert.match(html, /Your data was deleted: 2 conversation\(s\) and 4 message\(s\)\./, 'one request counts both pages');
    const [req] = await app.db!.query<{ subject: { user: string; account?: string }[] }>('SELECT subject FROM deletion_requests WHERE code = $1', [answer.confirmation_code]);
    assert.deepEqual(
      req!.subject.map((x) => [x.account ?? '*', x.user]),
      [
        ['*', 'asid-olga'],
        ['101', 'psid-olga-101'],
        ['102', 'psid-olga-102'],
      ],
    );
  });

  test('a Graph failure answers 503 and erases nothing; an id Graph does not know has no PSIDs (the raw id is erased, 200)', async () => {
    await app.say('101', 'psid-rita-101', 'please forget me later');
    graph().idsForPages.set('asid-rita', [{ page: '101', psid: 'psid-rita-101' }]);
    const before = await requests();
    graph().failNextLookup(1, { kind: 'error', status: 500, code: 2 });
    const failed = await deletionCallback(app.url, 'asid-rita');
    assert.equal(failed.status, 503, 'Meta retries');
    assert.equal(await rows('psid-rita-101'), 2, 'nothing erased');
    assert.equal(await requests(), before, 'no deletion request opened, none reported done');
    graph().failNextLookup(1, { kind: 'drop' });
    assert.equal((await deletionCallback(app.url, 'asid-rita')).status, 503, 'a cut connection too');
    assert.equal(await rows('psid-rita-101'), 2);
    // Meta's retry, once Graph answers.
    assert.equal((await deletionCallback(app.url, 'asid-rita')).status, 200);
    assert.equal(await rows('psid-rita-101'), 0);

    // Someone Graph does not know (a Facebook Login user of ours, say): their raw id is erased.
    await app.say('102', 'sam', 'stored under the id itself');
    assert.equal((await deletionCallback(app.url, 'sam')).status, 200);
    assert.equal(await rows('sam'), 0);
  });
});
