/** The admin API on real Redis and PostgreSQL: auth, its OpenAPI document, page scoping, paging, filters, corrections, notes, agent replies, live updates. */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { startAdminApp } from '../helpers/admin';
import { sleep, waitUntil } from '../helpers/wait';

describe('admin API', () => {
  let app: Awaited<ReturnType<typeof startAdminApp>>;
  before(async () => {
    app = await startAdminApp('adminapi');
    for (let i = 0; i < 5; i++) await app.say('101', `a${i}`, i === 0 ? 'where is my order' : `hello number ${i}`);
    await app.say('102', 'b1', 'secret page two message');
  });
  after(() => app?.stop());

  test('every route needs a token; sessions come from sign-in and end at sign-out; failed sign-ins slow the account down', async () => {
    for (const path of ['/me', '/conversations', '/conversations/101:a1', '/stats', '/live']) {
      assert.equal((await app.api(path, { token: '' })).status, 401, path);
      assert.equal((await app.api(path, { token: 'not-the-token-not-the-token' })).status, 401, path);
    }
    const token = await app.signIn('ann');
    const me = await app.api('/me', { token });
    assert.deepEqual([me.json.name, me.json.role, me.json.accounts], ['ann', 'agent', ['messenger:101']]);
    assert.ok(me.json.intents.includes('order.status'), 'the intents a label can be corrected to');
    assert.equal((await app.api('/session', { token, method: 'DELETE' })).status, 204);
    assert.equal((await app.api('/me', { token })).status, 401, 'the session is gone');

    const wrong = () => app.api('/session', { token: '', json: { user: 'root', password: 'guess' } });
    for (let i = 0; i < 5; i++) assert.equal((await wrong()).status, 401);
    const limited = await wrong();
    assert.equal(limited.status, 429);
    assert.ok(Number(limited.headers.get('retry-after')) > 0);
    const right = () => app.api('/session', { token: '', json: { user: 'root', password: 'correct horse battery staple' } });
    const waits = await right();
    assert.equal(waits.status, 429, 'even the right password waits');
    assert.equal((await app.api('/session', { token: '', json: { user: 'ann', password: 'correct horse battery staple' } })).status, 201, 'other accounts are not slowed down');
    await sleep(Number(waits.headers.get('retry-after')) * 1000);
    assert.equal((await right()).status, 201, 'slowed down, not locked out: after the wait the owner gets in');
  });

  test('the API describes itself at /admin/api/openapi.json, without a token; each route it marks as signed-in refuses a request without one', async () => {
    const res = await fetch(`${app.url}/admin/api/openapi.json`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
    const doc = (await res.json()) as { openapi: string; paths: Record<string, Record<string, { security?: unknown[] }>> };
    assert.equal(doc.openapi, '3.1.0');
    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        if (op.security?.length === 0) continue;
        const url = `${app.url}/admin/api${path.replace('{id}', '101:a1').replace(/\{\w+\}/g, '1')}`;
        assert.equal((await fetch(url, { method: method.toUpperCase() })).status, 401, `${method} ${path}`);
      }
    }
  });

  test('page scoping: a user of page 101 never sees page 102, whatever the route or id', async () => {
    const ann = await app.signIn('ann');
    const list = await app.api('/conversations', { token: ann });
    assert.ok(list.json.items.length >= 5);
    assert.ok(list.json.items.every((c: { channel: string; accountId: string }) => c.channel === 'messenger' && c.accountId === '101'));
    assert.equal((await app.api('/conversations?page=102', { token: ann })).json.items.length, 0);
    assert.equal((await app.api('/conversations/102:b1', { token: ann })).status, 404);
    assert.equal((await app.api('/conversations/102:b1/takeover', { token: ann, json: {} })).status, 404);
    assert.equal((await app.api('/conversations/102:b1/notes', { token: ann, json: { text: 'x' } })).status, 404);
    const b1 = (await app.api('/conversations/102:b1')).json.messages[0];
    assert.equal((await app.api(`/messages/${b1.id}/label`, { token: ann, json: { intent: 'complaint' } })).status, 404);
    const stats = (await app.api('/stats', { token: ann })).json;
    assert.ok(stats.intents.every((i: { intent: string }) => i.intent !== undefined));
    assert.equal((await app.api('/conversations?q=secret', { token: ann })).json.items.length, 0, 'search does not reach other pages');
    assert.equal((await app.api('/conversations?q=secret')).json.items.length, 1, 'the admin of every page finds it');
  });

  test('paging walks every conversation once, newest first; filters narrow the list; bad input is named', async () => {
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await app.api(`/conversations?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      assert.ok(page.json.items.length <= 2);
      seen.push(...page.json.items.map((c: { key: string }) => c.key));
      cursor = page.json.nextCursor;
    } while (cursor);
    assert.equal(new Set(seen).size, seen.length);
    assert.ok(seen.length >= 6);
    assert.equal(seen[0], '102:b1', 'newest first');
    assert.deepEqual(
      (await app.api('/conversations?q=order')).json.items.map((c: { key: string }) => c.key),
      ['101:a0'],
    );
    assert.deepEqual(
      (await app.api('/conversations?intent=order.status')).json.items.map((c: { key: string }) => c.key),
      ['101:a0'],
    );
    await app.say('101', 'lowc', 'xqzv plorf wibble');
    assert.ok((await app.api('/conversations?lowConfidence=1')).json.items.some((c: { key: string }) => c.key === '101:lowc'));
    assert.ok(!(await app.api('/conversations?lowConfidence=1')).json.items.some((c: { key: string }) => c.key === '101:a0'));
    assert.equal((await app.api('/conversations?from=2999-01-01')).json.items.length, 0);
    assert.equal((await app.api('/conversations?cursor=garbage')).status, 400);
    assert.match((await app.api('/conversations?status=robot')).json.error, /status must be one of bot, waiting, assigned, resolved, snoozed/);
    assert.match((await app.api('/conversations?from=yesterday')).json.error, /from must be a date/);
    assert.equal((await app.api('/conversations/nocolon')).status, 400);
  });

  test('a conversation shows each message with intent, entities and timings; a label can be corrected or confirmed', async () => {
    const view = (await app.api('/conversations/101:a0')).json;
    const [inbound, reply] = view.messages;
    assert.equal(inbound.author, 'user');
    assert.equal(inbound.intent, 'order.status');
    assert.ok(inbound.queueWaitMs !== null && inbound.processingMs !== null && inbound.totalMs !== null);
    assert.equal(reply.author, 'bot');
    assert.equal(view.mode, 'bot');

    const vic = await app.signIn('vic');
    assert.equal((await app.api(`/messages/${inbound.id}/label`, { token: vic, json: { intent: 'shipping.time' } })).status, 403, 'viewers read only');
    const ann = await app.signIn('ann');
    assert.equal((await app.api(`/messages/${inbound.id}/label`, { token: ann, json: { intent: 'shipping.time' } })).status, 200);
    const corrected = (await app.api('/conversations/101:a0')).json.messages[0];
    assert.deepEqual([corrected.correctedIntent, corrected.correctedBy], ['shipping.time', 'ann']);
    assert.equal((await app.api(`/messages/${inbound.id}/label`, { token: ann, json: { correct: true } })).status, 200);
    assert.equal((await app.api('/conversations/101:a0')).json.messages[0].correctedIntent, 'order.status');
    assert.equal((await app.api(`/messages/${reply.id}/label`, { token: ann, json: { intent: 'x' } })).status, 404, 'only inbound messages have intents');
    assert.match((await app.api(`/messages/${inbound.id}/label`, { token: ann, json: { intent: 'bad name!' } })).json.error, /intent/);
  });

  test('notes are private to the team; agent replies go out after the messages before them, with the HUMAN_AGENT tag', async () => {
    const ann = await app.signIn('ann');
    assert.equal((await app.api('/conversations/101:a1/notes', { token: ann, json: { text: 'VIP customer, be nice' } })).status, 201);
    assert.deepEqual(
      (await app.api('/conversations/101:a1', { token: ann })).json.notes.map((n: { text: string; author: string }) => [n.author, n.text]),
      [['ann', 'VIP customer, be nice']],
    );
    assert.deepEqual((await app.api('/conversations/101:a1', { token: await app.signIn('vic') })).json.notes, []);
    assert.ok(!app.fakeGraph!.calls.some((c) => c.text?.includes('VIP')), 'a note is never sent');

    assert.equal((await app.api('/conversations/101:a2/takeover', { token: ann, json: {} })).status, 202);
    await app.say('101', 'a2', 'are you there?');
    assert.equal((await app.api('/conversations/101:a2/reply', { token: ann, json: { text: 'Ann here, yes!' } })).status, 202);
    await waitUntil('the agent reply', () => app.fakeGraph!.messagesTo('a2').some((c) => c.text === 'Ann here, yes!'), 15_000);
    const sent = app.fakeGraph!.messagesTo('a2');
    assert.equal(sent.at(-1)!.text, 'Ann here, yes!');
    assert.equal(sent.at(-1)!.body.tag, 'HUMAN_AGENT');
    assert.equal(sent.length, 2, 'the bot answered the first message only; human mode kept it quiet');
    assert.equal((await app.api('/conversations?status=human', { token: ann })).json.items[0].key, '101:a2');
    assert.equal((await app.api('/conversations/101:a2/reply', { token: await app.signIn('vic'), json: { text: 'x' } })).status, 403);
  });

  test('export: streams the pages of the caller only, in the chosen format, with filters checked', async () => {
    const ann = await app.signIn('ann');
    const res = await fetch(`${app.url}/admin/api/export?format=jsonl&from=${encodeURIComponent(new Date(Date.now() - 3_600_000).toISOString())}`, { headers: { authorization: `Bearer ${ann}` } });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-disposition') ?? '', /attachment; filename="chatlog-export\.jsonl"/);
    const lines = (await res.text())
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    assert.ok(lines.length >= 5);
    assert.ok(
      lines.every((l) => l.channel === 'messenger' && l.account === '101'),
      'page 101 only',
    );
    assert.ok(!lines.some((l) => JSON.stringify(l).includes('secret page two')), 'nothing of page 102');
    assert.ok(
      lines.every((l) => typeof l.user === 'string' && !/^a\d$/.test(l.user)),
      'user ids are pseudonymised',
    );
    const again = (await (await fetch(`${app.url}/admin/api/export?format=jsonl&page=101`, { headers: { authorization: `Bearer ${ann}` } })).text())
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    assert.ok(
      lines.every((l) => again.some((x) => x.user === l.user)),
      'EXPORT_ID_SECRET: the same pseudonyms in a later export',
    );
    const all = await (await fetch(`${app.url}/admin/api/export?format=csv`, { headers: { authorization: 'Bearer admin-token-0123456789abcdef' } })).text();
    assert.match(all, /secret page two message/, 'the admin of every page gets every page');
    const bad = await app.api('/export?format=pdf');
    assert.equal(bad.status, 400);
    assert.match(bad.json.error, /format must be one of/);
    assert.equal((await app.api('/export?format=csv&colour=red')).status, 400);
  });

  test('live: a new message reaches an open stream, only for the pages of its user, even when it commits after a later one', async () => {
    const open = async (token: string) => {
      const ctrl = new AbortController();
      const res = await fetch(`${app.url}/admin/api/live`, { headers: { authorization: `Bearer ${token}` }, signal: ctrl.signal });
      assert.equal(res.headers.get('content-type'), 'text/event-stream; charset=utf-8');
      const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
      let got = '';
      const pump = (async () => {
        for (;;) {
          const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true }));
          if (done) return;
          got += value;
        }
      })();
      return { text: () => got, close: async () => (ctrl.abort(), await pump) };
    };
    const ann = await open(await app.signIn('ann'));
    const bob = await open(await app.signIn('bob'));
    try {
      await new Promise((r) => setTimeout(r, 1_500)); // the feed starts from "now"
      await app.say('101', 'livey', 'a brand new message');
      await waitUntil('the live event', () => ann.text().includes('a brand new message'), 10_000);
      assert.match(ann.text(), /event: messages/);
      assert.ok(!bob.text().includes('a brand new message'), 'page 102 does not hear page 101');

      // Two writers committing out of id order (as two chatlog consumers can): the row with
      // the lower id commits after the feed has passed its id, and still reaches the stream.
      const slow = new pg.Client({ connectionString: app.databaseUrl });
      await slow.connect();
      try {
        const [conv] = await app.db!.query<{ id: string }>("SELECT id FROM conversations WHERE account_id = '101' AND user_id = 'livey'");
        await slow.query('BEGIN');
        await slow.query("INSERT INTO messages (channel, account_id, mid, conversation_id, direction, kind, text) VALUES ('messenger', '101', 'm-late-commit', $1, 'out', 'text', 'committed late')", [conv!.id]);
        await app.say('101', 'livey', 'committed first');
        await waitUntil('the later row', () => ann.text().includes('committed first'), 10_000);
        assert.ok(!ann.text().includes('committed late'));
        await slow.query('COMMIT');
        await waitUntil('the late row', () => ann.text().includes('committed late'), 10_000);
      } finally {
        await slow.end();
      }
    } finally {
      await ann.close();
      await bob.close();
    }
  });
});
