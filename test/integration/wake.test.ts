/**
 * Idle workers wait for a wake-up instead of polling: what a user notices is a message answered
 * at once after a quiet spell, a delayed retry still made on time, and an idle deployment that
 * leaves Redis alone. The scripts' side (idle flags, one wake-up per idle spell, the next due
 * entry) runs on a standalone server and on a 3-master cluster.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { FakeGraph } from '../../src/dev/fake-graph';
import type { ConversationQueue } from '../../src/queue/queue';
import { connectRedis, type RedisClient } from '../../src/queue/redis';
import { WakeUps } from '../../src/queue/wake';
import { createLogger } from '../../src/log';
import { startTestApp } from '../helpers/app';
import { redisTargets } from '../helpers/env';
import { body, post, text } from '../helpers/fb';
import { conversationId, openQueue, textEvent } from '../helpers/queue';
import { sleep, waitUntil } from '../helpers/wait';

const logger = createLogger('silent');

for (const target of redisTargets()) {
  describe(`wake-ups on ${target.name} redis`, () => {
    let q: ConversationQueue;
    let listener: RedisClient;
    let wake: WakeUps;
    before(async () => {
      q = await openQueue(target, 'wake', { shards: 4 });
      listener = await connectRedis({ ...target, commandTimeoutMs: 2_000 }, () => undefined, 'test-wake-listener');
      wake = new WakeUps(listener, q.keys.wake, logger);
      await wake.start(); // what the workers hear: each wake-up bumps the generation
    });
    after(async () => {
      wake.close();
      await Promise.all([q.redis.quit(), listener.quit()]);
    });
    const heardSince = async (gen: number) => {
      await sleep(150); // pub/sub delivery
      return wake.generation - gen;
    };
    const enqueue = async (c: string, user: string, mid: string) => {
      await q.enqueue(c, [textEvent('101', user, mid, Date.now())]);
      await q.markReady([c]);
    };

    test('a round that drains a shard flags it idle; the first work made claimable there wakes the workers once', async () => {
      const c = conversationId('101', 'wake-a');
      const shard = q.keys.shardOf(c);
      const empty = await q.claimShards([{ shard, max: 8 }], 10_000, 'w1', 5_000);
      assert.deepEqual(empty.claims, []);
      assert.equal(empty.nextDueMs, -1, 'an empty shard has nothing coming due');
      assert.ok((await q.redis.pttl(q.keys.idle(shard))) > 4_000, 'flagged idle for WORKER_IDLE_MS');

      const gen = wake.generation;
      await enqueue(c, 'wake-a', 'a1');
      assert.equal(await heardSince(gen), 1, 'one wake-up for the first message after the quiet spell');
      assert.equal(await q.redis.exists(q.keys.idle(shard)), 0, 'the flag is cleared by it');

      const gen2 = wake.generation;
      await enqueue(conversationId('101', 'wake-a2'), 'wake-a2', 'a2');
      await enqueue(c, 'wake-a', 'a3');
      assert.equal(await heardSince(gen2), 0, 'nobody waits on the shard: more work publishes nothing');
    });

    test('a round that gets all it asked for does not flag the shard: under load nothing is published', async () => {
      const c = conversationId('101', 'wake-b');
      const shard = q.keys.shardOf(c);
      await q.redis.del(q.keys.idle(shard));
      await enqueue(c, 'wake-b', 'b1');
      const r = await q.claimShards([{ shard, max: 1 }], 10_000, 'w1', 5_000);
      assert.equal(r.claims.length, 1);
      assert.equal(await q.redis.exists(q.keys.idle(shard)), 0);
      const gen = wake.generation;
      await enqueue(conversationId('101', 'wake-b2'), 'wake-b2', 'b2');
      assert.equal(await heardSince(gen), 0);
    });

    test('the next due entry of a drained shard is reported: a delayed hand-back, then a lease', async () => {
      const c = conversationId('101', 'wake-c');
      const shard = q.keys.shardOf(c);
      // Clear the shard of the earlier tests' conversations.
      for (const x of (await q.claimShards([{ shard, max: 100 }], 10_000, 'w0')).claims) await q.settle(x, 'remove');
      await enqueue(c, 'wake-c', 'c1');
      const [claim] = (await q.claimShards([{ shard, max: 8 }], 10_000, 'w1', 5_000)).claims;
      assert.equal(claim?.conversation, c);
      const gen = wake.generation;
      assert.ok(await q.settle(claim!, 'requeue', 700));
      assert.equal(await heardSince(gen), 1, 'a hand-back into a flagged shard wakes the workers: their next due time changed');
      const r = await q.claimShards([{ shard, max: 8 }], 10_000, 'w1', 5_000);
      assert.deepEqual(r.claims, [], 'not due yet');
      assert.ok(r.nextDueMs > 300 && r.nextDueMs <= 700, `due in about 700 ms minus the pause: ${r.nextDueMs}`);
      await sleep(r.nextDueMs + 20);
      const again = await q.claimShards([{ shard, max: 8 }], 2_000, 'w1', 5_000);
      assert.deepEqual(
        again.claims.map((x) => x.conversation),
        [c],
      );
      assert.ok(again.nextDueMs > 1_500 && again.nextDueMs <= 2_000, `its lease is the next thing due: ${again.nextDueMs}`);
    });
  });
}

describe('idle workers', () => {
  const target = redisTargets()[0]!;
  const graph = new FakeGraph({ anyTokenPage: '101' });
  let graphUrl: string;
  before(async () => {
    graphUrl = await graph.listen();
  });
  after(() => graph.close());
  const rounds = async (app: { metrics: { claimRounds: { get(): Promise<{ values: { value: number; labels: Record<string, unknown> }[] }> } } }) => {
    const by: Record<string, number> = {};
    for (const v of (await app.metrics.claimRounds.get()).values) by[String(v.labels.after)] = v.value;
    return by;
  };
  const total = (by: Record<string, number>) => Object.values(by).reduce((a, b) => a + b, 0);

  for (const t of redisTargets()) {
    test(`an idle worker does not poll, and answers the next message at once, not after its idle wait (${t.name})`, async () => {
      // A minute-long idle wait: only a wake-up can make the answer prompt.
      const app = await startTestApp('idle', { ...t.env, GRAPH_API_URL: graphUrl, WORKER_POLL_MS: '5', WORKER_IDLE_MS: '60000' });
      try {
        await sleep(300);
        const before = total(await rounds(app));
        await sleep(1_500);
        const idle = total(await rounds(app)) - before;
        assert.ok(idle <= 2, `an idle worker made ${idle} claim rounds in 1.5 s (polling every 5 ms would make ~300)`);

        for (const [i, user] of ['quiet-1', 'quiet-2', 'quiet-3'].map((u) => `${t.name}-${u}`).entries()) {
          const sent = Date.now();
          await post(app.url, body([text('101', user, 1, `q${i}`, 'hello')]));
          await waitUntil(`${user} answered`, () => graph.messagesTo(user).length === 1, 5_000, 5);
          const took = Date.now() - sent;
          assert.ok(took < 3_000, `answered in ${took} ms after a quiet spell (idle wait 60 s)`);
          await sleep(400); // idle again
        }
        assert.ok((await rounds(app)).wake! >= 3, 'each answer followed a wake-up');
      } finally {
        await app.stop();
      }
    });
  }

  test('a delayed retry is made when it comes due, not after the idle wait', async () => {
    const app = await startTestApp('idledue', { ...target.env, GRAPH_API_URL: graphUrl, WORKER_IDLE_MS: '60000', BOT_MARK_SEEN: 'false', SEND_MAX_ATTEMPTS: '1', SEND_RETRY_LATER_MS: '400' });
    try {
      graph.failNext(1, { kind: 'error', status: 500, code: 2 });
      const sent = Date.now();
      await post(app.url, body([text('101', 'later', 1, 'l1', 'one'), text('101', 'later', 2, 'l2', 'two')]));
      await waitUntil('both answered after the retry', () => graph.messagesTo('later').length === 2, 10_000, 10);
      assert.deepEqual(
        graph.messagesTo('later').map((m) => m.metadata?.mid),
        ['l1', 'l2'],
      );
      assert.ok(Date.now() - sent < 5_000, 'retried about SEND_RETRY_LATER_MS later');
      assert.ok((await rounds(app)).due! >= 1, 'the worker woke for the due hand-back');
    } finally {
      await app.stop();
    }
  });

  test('a Redis user not allowed on the wake-up channel still gets every message queued and answered, within WORKER_IDLE_MS', async () => {
    const admin = await connectRedis({ url: target.url!, commandTimeoutMs: 2_000 }, () => undefined, 'test-wake-acl');
    const user = `nowake${Date.now() % 100000}`;
    const prefix = `tidleacl${Date.now() % 100000}`;
    // The web chat and the inbox's channels, not the wake-up channel (a grant written before it existed).
    await admin.call('ACL', 'SETUSER', user, 'on', '>pw-0123456789', '~*', '+@all', 'resetchannels', `&${prefix}:wc:*`, `&${prefix}:inbox:*`);
    const url = new URL(target.url!);
    url.username = user;
    url.password = 'pw-0123456789';
    const app = await startTestApp('idleacl', { REDIS_URL: url.toString(), REDIS_PREFIX: prefix, GRAPH_API_URL: graphUrl, WORKER_IDLE_MS: '300' });
    try {
      await sleep(400); // idle: the shards are flagged
      for (const u of ['acl-1', 'acl-2']) {
        const r = await post(app.url, body([text('101', u, 1, `${u}-m`, 'hello')]));
        assert.equal(r.status, 200, 'queued: the refused wake-up does not fail the gateway');
        await waitUntil(`${u} answered`, () => graph.messagesTo(u).length === 1, 5_000, 10);
      }
    } finally {
      await app.stop();
      await admin.call('ACL', 'DELUSER', user);
      await admin.quit();
    }
  });

  test('a worker stops at once while idle', async () => {
    const app = await startTestApp('idlestop', { ...target.env, GRAPH_API_URL: graphUrl, WORKER_IDLE_MS: '60000' });
    await sleep(200);
    const t = Date.now();
    await app.stop();
    assert.ok(Date.now() - t < 5_000, `stopped in ${Date.now() - t} ms (idle wait 60 s)`);
  });
});
