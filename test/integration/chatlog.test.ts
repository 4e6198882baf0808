/** The chatlog's storage and queries, on real PostgreSQL and on PGlite (the same SQL). */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ChatlogConsumer } from '../../src/chatlog/consumer';
import { loadMigrations, migrate } from '../../src/chatlog/migrate';
import { conversationMessages, listConversations, stats, BadCursorError } from '../../src/chatlog/queries';
import type { ChatlogRecord, MessageRecord } from '../../src/chatlog/records';
import { pgliteClient, postgresClient, type SqlClient } from '../../src/chatlog/sql';
import { ChatlogStream } from '../../src/chatlog/stream';
import { writeBatch } from '../../src/chatlog/writer';
import { createLogger } from '../../src/log';
import { createMetrics } from '../../src/metrics';
import { connectRedis } from '../../src/queue/redis';
import { startPostgres } from '../../src/dev/postgres-server';
import { redisTargets, testPostgres, tmpDir, uniquePrefix } from '../helpers/env';

const T0 = Date.UTC(2026, 10, 1, 12, 0, 0);
const inbound = (page: string, user: string, mid: string, at: number, extra: Partial<MessageRecord> = {}): MessageRecord => ({
  t: 'msg',
  channel: 'messenger',
  account: page,
  user,
  mid,
  direction: 'in',
  kind: 'text',
  text: `text of ${mid}`,
  platformTs: at,
  receivedAt: at + 5,
  enqueuedAt: at + 6,
  startedAt: at + 20,
  sendMs: 30,
  repliedAt: at + 60,
  ...extra,
});
const reply = (page: string, user: string, mid: string, to: string, at: number, extra: Partial<MessageRecord> = {}): MessageRecord => ({
  t: 'msg',
  channel: 'messenger',
  account: page,
  user,
  mid,
  direction: 'out',
  kind: 'text',
  text: `reply to ${to}`,
  replyToMid: to,
  replyIndex: 0,
  startedAt: at,
  sendMs: 10,
  repliedAt: at + 10,
  platformTs: at + 10,
  ...extra,
});

const backends: { name: string; open: (label: string) => Promise<SqlClient> }[] = [
  { name: 'postgres', open: async (label) => postgresClient(await testPostgres().database(label), () => undefined) },
  { name: 'pglite', open: (label) => pgliteClient(tmpDir(label)) },
];

for (const backend of backends) {
  describe(`chatlog on ${backend.name}`, () => {
    let db: SqlClient;
    before(async () => {
      db = await backend.open('chatlog');
      await migrate(db);
    });
    after(() => db.close());
    const count = async (sql: string, params: unknown[] = []) => Number((await db.query<{ n: string }>(sql, params))[0]!.n);

    test('migrations are recorded once and a second run applies nothing', async () => {
      assert.deepEqual(await migrate(db), []);
      const rows = await db.query<{ version: number }>('SELECT version FROM schema_migrations ORDER BY version');
      assert.deepEqual(
        rows.map((r) => r.version),
        loadMigrations().map((m) => m.version),
      );
    });

    if (backend.name === 'postgres') {
      test('replicas starting at once apply each migration exactly once', async () => {
        const url = await testPostgres().database('race');
        const clients = [1, 2, 3, 4].map(() => postgresClient(url, () => undefined));
        try {
          const applied = await Promise.all(clients.map((c) => migrate(c)));
          assert.equal(applied.flat().length, loadMigrations().length, `applied once in all: ${JSON.stringify(applied)}`);
        } finally {
          await Promise.all(clients.map((c) => c.close()));
        }
      });
    }

    test('a batch written twice adds its rows once; counters move once', async () => {
      const batch: ChatlogRecord[] = [inbound('p1', 'u1', 'in-1', T0), reply('p1', 'u1', 'out-1', 'in-1', T0 + 30), inbound('p1', 'u1', 'in-2', T0 + 1000)];
      assert.deepEqual(await writeBatch(db, batch), { inserted: 3, updated: 0, receipts: 0, statuses: 0, forgotten: 0 });
      assert.deepEqual(await writeBatch(db, batch), { inserted: 0, updated: 3, receipts: 0, statuses: 0, forgotten: 0 });
      assert.equal(await count("SELECT count(*) n FROM messages WHERE account_id = 'p1'"), 3);
      const [c] = await db.query<Record<string, unknown>>("SELECT * FROM conversations WHERE account_id = 'p1' AND user_id = 'u1'");
      assert.deepEqual([c!.messages_in, c!.messages_out, c!.last_text, c!.status], [2, 1, 'text of in-2', 'bot']);
      assert.equal(new Date(c!.first_message_at as string).getTime(), T0);
    });

    test("a NUL character in a user's text (valid JSON, refused by PostgreSQL) does not block the chatlog: the row is written with it replaced", async () => {
      const poison = inbound('pN', 'uN', 'nul-1', T0, { text: 'a\u0000b', payload: 'P\u0000', entities: [{ entity: 'x', value: '\u0000' }] });
      const r = await writeBatch(db, [poison, inbound('pN', 'uN', 'nul-2', T0 + 1)]);
      assert.equal(r.inserted, 2, 'the batch, and the message behind it, are written');
      const [row] = await db.query<{ text: string; payload: string; entities: unknown }>("SELECT text, payload, entities FROM messages WHERE mid = 'nul-1'");
      assert.deepEqual([row!.text, row!.payload, row!.entities], ['a\uFFFDb', 'P\uFFFD', [{ entity: 'x', value: '\uFFFD' }]]);
    });

    test("a reply's echo and the worker's record make one row, with what each knew", async () => {
      const echo = reply('p2', 'u1', 'out-e', 'in-e', T0, { startedAt: undefined, sendMs: undefined, repliedAt: undefined, platformTs: T0 + 15 });
      await writeBatch(db, [inbound('p2', 'u1', 'in-e', T0 - 100), echo]);
      await writeBatch(db, [reply('p2', 'u1', 'out-e', 'in-e', T0)]);
      const rows = await db.query<Record<string, unknown>>("SELECT * FROM messages WHERE account_id = 'p2' AND mid = 'out-e'");
      assert.equal(rows.length, 1);
      assert.equal(rows[0]!.send_ms, 10, 'filled in by the worker record');
      assert.equal(new Date(rows[0]!.platform_ts as string).getTime(), T0 + 15, 'kept from the echo');
      assert.equal(await count("SELECT messages_out n FROM conversations WHERE account_id = 'p2'"), 1);
    });

    test('a Messenger-only chatlog migrates to channels: its rows stay, with their keys, and old records still land in them', async () => {
      const old = await backend.open('legacy');
      try {
        const all = loadMigrations();
        await migrate(
          old,
          all.filter((m) => m.version < 4),
        );
        await old.query("INSERT INTO pages (id, name) VALUES ('p-old', 'Old shop')");
        const [c] = await old.query<{ id: string }>("INSERT INTO conversations (page_id, user_id, messages_in, last_message_at, first_message_at) VALUES ('p-old', 'u-old', 1, now(), now()) RETURNING id");
        await old.query("INSERT INTO messages (page_id, mid, conversation_id, direction, kind, text, platform_ts) VALUES ('p-old', 'm-old-1', $1, 'in', 'text', 'from before channels', now())", [c!.id]);
        assert.deepEqual(
          await migrate(old),
          all.filter((m) => m.version >= 4).map((m) => m.version),
        );
        const list = await listConversations(old, { scope: ['messenger:p-old'] });
        assert.deepEqual(
          list.items.map((x) => [x.key, x.channel, x.accountId, x.userId]),
          [['p-old:u-old', 'messenger', 'p-old', 'u-old']],
        );
        assert.deepEqual(await old.query('SELECT channel, id, name FROM accounts'), [{ channel: 'messenger', id: 'p-old', name: 'Old shop' }]);
        // A record appended to the stream by a worker of the previous version (pageId/userId).
        await writeBatch(old, [{ t: 'msg', pageId: 'p-old', userId: 'u-old', mid: 'm-old-2', direction: 'in', kind: 'text', text: 'queued during the upgrade', platformTs: Date.now() } as never]);
        const view = await conversationMessages(old, list.items[0]!.id);
        assert.deepEqual(
          view!.messages.map((m) => m.mid),
          ['m-old-1', 'm-old-2'],
        );
        // The same mid on another channel is another message.
        await writeBatch(old, [{ ...inbound('p-old', 'u-old', 'm-old-1', Date.now()), channel: 'instagram' }]);
        assert.equal(await (async () => Number((await old.query<{ n: string }>("SELECT count(*) n FROM messages WHERE mid = 'm-old-1'"))[0]!.n))(), 2);
      } finally {
        await old.close();
      }
    });

    test('delivery and read watermarks mark the replies they cover', async () => {
      await writeBatch(db, [reply('p3', 'u1', 'o1', 'i1', T0), reply('p3', 'u1', 'o2', 'i2', T0 + 5_000)]);
      await writeBatch(db, [{ t: 'receipt', channel: 'messenger', account: 'p3', user: 'u1', kind: 'delivery', watermark: T0 + 1_000 }]);
      const at = async (mid: string) => (await db.query<Record<string, unknown>>("SELECT delivered_at, read_at FROM messages WHERE account_id = 'p3' AND mid = $1", [mid]))[0]!;
      assert.notEqual((await at('o1')).delivered_at, null);
      assert.equal((await at('o2')).delivered_at, null, 'sent after the watermark');
      await writeBatch(db, [{ t: 'receipt', channel: 'messenger', account: 'p3', user: 'u1', kind: 'read', watermark: T0 + 9_000 }]);
      assert.notEqual((await at('o2')).read_at, null);
      assert.notEqual((await at('o2')).delivered_at, null, 'read implies delivered');
    });

    test('conversations list: newest first, filters, cursor paging without gaps or repeats', async () => {
      const batch: ChatlogRecord[] = [];
      for (let i = 0; i < 25; i++) {
        batch.push(inbound(i % 2 ? 'pA' : 'pB', `user${i}`, `list-${i}`, T0 + i * 60_000, { intent: i % 5 === 0 ? 'order.status' : 'greeting', text: i === 7 ? 'where is my parcel please' : `hello ${i}` }));
      }
      await writeBatch(db, batch);
      const scope = ['messenger:pA', 'messenger:pB'];
      const seen: string[] = [];
      let cursor: string | undefined;
      do {
        const r = await listConversations(db, { scope, limit: 10, ...(cursor ? { cursor } : {}) });
        seen.push(...r.items.map((c) => c.userId));
        cursor = r.nextCursor;
      } while (cursor);
      assert.deepEqual(
        seen,
        Array.from({ length: 25 }, (_, i) => `user${24 - i}`),
      );
      assert.deepEqual((await listConversations(db, { scope, account: 'messenger:pA' })).items.length, 12);
      assert.deepEqual(
        (await listConversations(db, { scope, intent: 'order.status' })).items.map((c) => c.userId),
        ['user20', 'user15', 'user10', 'user5', 'user0'],
      );
      assert.deepEqual(
        (await listConversations(db, { scope, q: 'parcel where' })).items.map((c) => c.userId),
        ['user7'],
      );
      const range = await listConversations(db, { scope, from: new Date(T0 + 10 * 60_000), to: new Date(T0 + 13 * 60_000) });
      assert.deepEqual(
        range.items.map((c) => c.userId),
        ['user12', 'user11', 'user10'],
      );
      assert.deepEqual((await listConversations(db, { scope, status: 'human' })).items, []);
      await assert.rejects(listConversations(db, { cursor: 'not-a-cursor' }), BadCursorError);
    });

    test('a conversation reads back in order with its timings, and only within the caller’s accounts', async () => {
      await writeBatch(db, [inbound('pT', 'u1', 'ti-1', T0), reply('pT', 'u1', 'to-1', 'ti-1', T0 + 20), inbound('pT', 'u1', 'ti-2', T0 + 500)]);
      const list = await listConversations(db, { account: 'messenger:pT' });
      const id = list.items[0]!.id;
      const view = await conversationMessages(db, id, ['messenger:pT']);
      assert.ok(view);
      assert.deepEqual(
        view.messages.map((m) => m.mid),
        ['ti-1', 'to-1', 'ti-2'],
      );
      const first = view.messages[0]!;
      assert.deepEqual([first.queueWaitMs, first.processingMs, first.totalMs], [14, 40, 55]);
      assert.equal(await conversationMessages(db, id, ['messenger:pOther']), null, 'another page: not found');
      assert.equal(await conversationMessages(db, '99999999', undefined), null);
    });

    test('stats: per-minute counts, percentiles, fallback rate, intents, Send API failures', async () => {
      const base = T0 + 86_400_000;
      const batch: ChatlogRecord[] = [];
      for (let i = 0; i < 10; i++) {
        batch.push(inbound('pS', `s${i}`, `st-${i}`, base + i * 10_000, { repliedAt: base + i * 10_000 + 5 + (i + 1) * 10, intent: i < 2 ? 'None' : 'greeting' }));
        batch.push(reply('pS', `s${i}`, `st-out-${i}`, `st-${i}`, base + i * 10_000 + 20, i === 9 ? { error: '551: unavailable' } : {}));
      }
      await writeBatch(db, batch);
      const s = await stats(db, { from: new Date(base), to: new Date(base + 600_000), scope: ['messenger:pS'] });
      assert.equal(s.processing.count, 10);
      assert.equal(s.processing.p50Ms, 55);
      assert.equal(s.processing.avgMs, 55);
      assert.equal(Math.round(s.processing.p99Ms!), 99);
      assert.equal(s.queueWait.p50Ms, 14);
      assert.equal(s.fallbackRate, 0.2);
      assert.deepEqual(s.intents, [
        { intent: 'greeting', count: 8 },
        { intent: 'None', count: 2 },
      ]);
      assert.equal(s.sendFailureRate, 0.1);
      assert.deepEqual(
        s.perMinute.map((m) => [m.in, m.out]),
        [
          [6, 6],
          [4, 4],
        ],
      );
    });
  });
}

describe('postgres outage during a transaction', () => {
  test('the transaction fails cleanly, the process does not crash, and the next one works after the restart', async () => {
    const pg = await startPostgres(tmpDir('pg-crash'));
    const uncaught: Error[] = [];
    const onUncaught = (err: Error) => uncaught.push(err);
    process.on('uncaughtException', onUncaught);
    const db = postgresClient(pg.url, () => undefined);
    try {
      const inFlight = db.transaction((tx) => tx.query('SELECT pg_sleep(5)'));
      await new Promise((r) => setTimeout(r, 300));
      await pg.stop(); // fast shutdown: the checked-out connection is cut mid-query
      await assert.rejects(inFlight);
      await new Promise((r) => setTimeout(r, 200));
      assert.deepEqual(
        uncaught.map((e) => e.message),
        [],
        'no uncaught error event',
      );
      await pg.start();
      const rows = await db.transaction((tx) => tx.query<{ ok: number }>('SELECT 1 AS ok'));
      assert.deepEqual(rows, [{ ok: 1 }]);
    } finally {
      process.off('uncaughtException', onUncaught);
      await db.close().catch(() => undefined);
      await pg.stop();
    }
  });
});

describe('chatlog consumer on redis streams', () => {
  const target = redisTargets()[1]!; // the cluster: shards on several masters
  test('a consumer that dies after its commit, before its ack: another reclaims the entries and no row is duplicated', async () => {
    const redis = await connectRedis({ ...target, commandTimeoutMs: 2_000 }, () => undefined);
    const db = await postgresClient(await testPostgres().database('reclaim'), () => undefined);
    const logger = createLogger('silent');
    try {
      await migrate(db);
      const stream = new ChatlogStream(redis, uniquePrefix('reclaim'), 4);
      const records = Array.from({ length: 40 }, (_, i) => inbound('pr', `u${i % 7}`, `rc-${i}`, T0 + i));
      await stream.append(records);
      const dying = new ChatlogConsumer(stream, db, { batchSize: 100, pollMs: 5, claimIdleMs: 200, name: 'dying' }, logger, createMetrics(), () => {
        throw new Error('killed between commit and ack');
      });
      await dying.start();
      await new Promise((r) => setTimeout(r, 150));
      await dying.stop();
      assert.equal(Number((await db.query<{ n: string }>("SELECT count(*) n FROM messages WHERE account_id = 'pr'"))[0]!.n), 40, 'committed');
      assert.ok((await dying.lagMs()) > 0, 'but not acknowledged: still in the stream');

      const heir = new ChatlogConsumer(stream, db, { batchSize: 100, pollMs: 5, claimIdleMs: 200, name: 'heir' }, logger, createMetrics());
      await heir.start();
      const end = Date.now() + 10_000;
      const unwritten = async () => (await Promise.all([0, 1, 2, 3].map((s) => stream.redis.xlen(stream.key(s))))).reduce((a, b) => a + b, 0);
      while ((await unwritten()) > 0) {
        assert.ok(Date.now() < end, 'reclaimed within 10 s');
        await new Promise((r) => setTimeout(r, 50));
      }
      await heir.stop();
      assert.equal(Number((await db.query<{ n: string }>("SELECT count(*) n FROM messages WHERE account_id = 'pr'"))[0]!.n), 40, 'no duplicate rows');
      const counters = await db.query<{ n: string }>("SELECT sum(messages_in) n FROM conversations WHERE account_id = 'pr'");
      assert.equal(Number(counters[0]!.n), 40, 'counters not doubled');
    } finally {
      await db.close();
      redis.disconnect();
    }
  });
});
