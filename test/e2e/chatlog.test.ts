/**
 * Promise 6 end to end: every inbound and outbound message gets exactly one chatlog row with
 * its timings, and a PostgreSQL outage delays rows without losing any or slowing replies.
 * Gateway, two workers and the chatlog role run as separate processes.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { postgresClient, type SqlClient } from '../../src/chatlog/sql';
import { startPostgres } from '../../src/dev/postgres-server';
import { redisTargets, testPostgres, tmpDir } from '../helpers/env';
import { audit, problems, sendLoad, startPipeline, waitForReplies, type Pipeline } from '../helpers/pipeline';
import { startRole } from '../helpers/procs';
import { sleep, waitUntil } from '../helpers/wait';

const n = async (db: SqlClient, sql: string) => Number((await db.query<{ n: string }>(sql))[0]!.n);

async function echoSettled(p: Pipeline): Promise<number> {
  let n = 0;
  for (const w of p.workers) {
    if (w.child.exitCode !== null) continue;
    const m = (await (await fetch(`${w.url}/metrics`)).text()).match(/cb_send_unconfirmed_total\{settled="echo"\} (\d+)/);
    n += Number(m?.[1] ?? 0);
  }
  return n;
}

async function assertComplete(db: SqlClient, users: number, perUser: number, p: Pipeline): Promise<void> {
  const total = users * perUser;
  await waitUntil('every row written', async () => (await n(db, 'SELECT count(*) n FROM messages')) >= 2 * total, 60_000, 200).catch(async (err: Error) => {
    throw new Error(`${err.message}; rows ${await n(db, 'SELECT count(*) n FROM messages')} of ${2 * total}\n${await problems(p)}\n${p.chatlog?.output.slice(-15).join('\n')}`);
  });
  await sleep(500); // a late duplicate would show up here
  assert.equal(await n(db, "SELECT count(*) n FROM messages WHERE direction = 'in'"), total, 'one row per inbound message');
  assert.equal(await n(db, "SELECT count(*) n FROM messages WHERE direction = 'out'"), total, 'one row per reply');
  assert.equal(await n(db, 'SELECT count(*) n FROM conversations'), users);
  assert.equal(await n(db, 'SELECT sum(messages_in) + sum(messages_out) n FROM conversations'), 2 * total, 'counters match the rows');
  assert.equal(
    await n(db, "SELECT count(*) n FROM messages WHERE direction = 'in' AND NOT (received_at <= enqueued_at AND enqueued_at <= started_at AND started_at <= replied_at)"),
    0,
    'timings in order and present: received ≤ enqueued ≤ started ≤ replied',
  );
  assert.equal(
    await n(db, "SELECT count(*) n FROM messages o WHERE o.direction = 'out' AND NOT EXISTS (SELECT 1 FROM messages i WHERE i.direction = 'in' AND i.channel = o.channel AND i.account_id = o.account_id AND i.mid = o.reply_to_mid)"),
    0,
    'every reply references the message it answers',
  );
  assert.equal(await n(db, "SELECT count(*) n FROM messages WHERE direction = 'out' AND replied_at IS NULL"), 0, 'every reply has its time');
  // Only a reply settled by its echo (its worker never got the Send API's answer) lacks a send duration.
  assert.equal(await n(db, "SELECT count(*) n FROM messages WHERE direction = 'out' AND send_ms IS NULL"), await echoSettled(p), 'replies carry their send timings');
}

describe('chatlog end to end', { timeout: 240_000 }, () => {
  const running: Pipeline[] = [];
  after(async () => {
    await Promise.all(running.map((p) => p.stop()));
  });

  test('after the load scenario every message has exactly one row, with timings in order (cluster)', async () => {
    const target = redisTargets()[1]!;
    const url = await testPostgres().database('complete');
    const p = await startPipeline('chatlog-complete', target.env, { databaseUrl: url });
    running.push(p);
    const db = postgresClient(url, () => undefined);
    try {
      // The ordered-core load scenario: 200 conversations × 20 messages, 10% redelivered.
      const load = await sendLoad(p.gateway.url, { users: 200, perUser: 20, redeliver: 0.1 });
      await waitForReplies(p.graph, load.expected, 120_000);
      await sleep(1_500);
      assert.deepEqual(audit(p.graph, load.expected), { violations: [], duplicates: 0, lost: 0, outOfOrder: 0 }, await problems(p));
      await assertComplete(db, 200, 20, p);
    } finally {
      await db.close();
    }
  });

  test('PostgreSQL stopped mid-run: replies keep flowing; after its restart every row lands once (standalone)', async () => {
    const target = redisTargets()[0]!;
    const pg = await startPostgres(tmpDir('pg-outage'));
    const p = await startPipeline('chatlog-outage', target.env, { databaseUrl: pg.url });
    running.push(p);
    const db = postgresClient(pg.url, () => undefined);
    try {
      const users = 60;
      const perUser = 10;
      let repliesWhileDown = 0;
      const load = await sendLoad(p.gateway.url, {
        users,
        perUser,
        onRound: async (k) => {
          if (k === 2) {
            await waitUntil('first rounds answered', () => p.graph.messages.length >= users * 3, 30_000);
            await pg.stop();
          }
          if (k === 7) {
            const before = users * 3;
            await waitUntil('replies while PostgreSQL is down', () => p.graph.messages.length >= users * 8, 30_000);
            repliesWhileDown = p.graph.messages.length - before;
            await pg.start();
          }
        },
      });
      assert.ok(repliesWhileDown >= users * 5, `replies never stopped during the outage (${repliesWhileDown})`);
      await waitForReplies(p.graph, load.expected, 60_000);
      await sleep(1_500);
      assert.deepEqual(audit(p.graph, load.expected), { violations: [], duplicates: 0, lost: 0, outOfOrder: 0 }, await problems(p));
      await assertComplete(db, users, perUser, p);
      const metrics = await (await fetch(`${p.chatlog!.url}/metrics`)).text();
      assert.match(metrics, /cb_chatlog_write_errors_total [1-9]/, 'the outage was seen and retried');
    } finally {
      await db.close().catch(() => undefined);
      await pg.stop();
    }
  });
});

/** A gauge's value in a role's /metrics. */
async function gauge(url: string, name: string): Promise<number | undefined> {
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(await (await fetch(`${url}/metrics`)).text());
  return m ? Number(m[1]) : undefined;
}

for (const target of redisTargets()) {
  describe(`chatlog backlog on ${target.name} redis`, { timeout: 120_000 }, () => {
    const running: { stop(): Promise<unknown> }[] = [];
    after(async () => {
      await Promise.all(running.map((p) => p.stop()));
    });

    test('while no chatlog role runs, every role reports the records waiting in the stream and their bytes; they go once it runs', async () => {
      const p = await startPipeline(`backlog-${target.name}`, target.env, { workers: 1 });
      running.push(p);
      const users = 5;
      const load = await sendLoad(p.gateway.url, { users, perUser: 1 });
      await waitForReplies(p.graph, load.expected, 30_000);
      // Per message: the inbound record and the reply's (worker), the echo's (gateway).
      const records = users * 3;
      for (const role of [p.gateway, p.workers[0]!]) {
        await waitUntil(`${role.name} reports ${records} entries`, async () => (await gauge(role.url, 'cb_chatlog_stream_entries')) === records, 10_000, 100);
        const bytes = (await gauge(role.url, 'cb_chatlog_stream_bytes'))!;
        assert.ok(bytes > records * 200, `${role.name}: ${bytes} bytes for ${records} records of 300–700 bytes of JSON`);
      }
      const databaseUrl = await testPostgres().database(`backlog-${target.name}`);
      const chatlog = await startRole(`backlog-${target.name}-chatlog`, { ...p.env, ROLE: 'chatlog', DATABASE_URL: databaseUrl, CHATLOG_POLL_MS: '20' }).ready();
      running.push(chatlog);
      await waitUntil('the backlog written', async () => (await gauge(p.gateway.url, 'cb_chatlog_stream_entries')) === 0, 30_000, 100);
      assert.equal(await gauge(chatlog.url, 'cb_chatlog_stream_entries'), 0);
      const db = postgresClient(databaseUrl, () => undefined);
      try {
        assert.equal(await n(db, 'SELECT count(*) n FROM messages'), users * 2, 'each inbound message and reply once');
      } finally {
        await db.close();
      }
    });
  });
}
