/**
 * Worker liveness against real Redis, standalone and cluster: a worker whose heartbeat stops
 * has its conversations handed over long before their lease and lock run out; a live worker
 * keeps its own; a worker wrongly presumed dead notices and is fenced out.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { createLogger } from '../../src/log';
import { createMetrics } from '../../src/metrics';
import { ScriptCode } from '../../src/queue/errors';
import { conversationId } from '../helpers/queue';
import { Liveness } from '../../src/queue/liveness';
import type { ConversationQueue } from '../../src/queue/queue';
import { redisTargets } from '../helpers/env';
import { openQueue, textEvent } from '../helpers/queue';
import { waitUntil } from '../helpers/wait';

const logger = createLogger('silent');
const LEASE = 60_000;

/** Claims `c` for `worker` with a 60 s lease and takes its lock as the worker would (next-4); returns the peeked event's member. */
async function hold(q: ConversationQueue, c: string, worker: string): Promise<{ value: string; member: string }> {
  const [page, user] = c.split(':') as [string, string];
  await q.enqueue(c, [textEvent(page, user, `m-${user}`, 1)]);
  await q.markReady([c]);
  const { claims } = await q.claimShards(
    Array.from({ length: q.keys.shards }, (_, shard) => ({ shard, max: 10 })),
    LEASE,
    worker,
  );
  assert.deepEqual(
    claims.map((x) => x.conversation),
    [c],
  );
  const value = `${worker}/${user}`;
  const r = await q.next(c, value, undefined, { acquireMs: LEASE });
  assert.equal(r.code, ScriptCode.Ok);
  return { value, member: r.code === ScriptCode.Ok ? r.member : '' };
}

const claimable = async (q: ConversationQueue) =>
  (
    await q.claimShards(
      Array.from({ length: q.keys.shards }, (_, shard) => ({ shard, max: 10 })),
      LEASE,
      'someone-else',
    )
  ).claims.map((x) => x.conversation);

for (const target of redisTargets()) {
  describe(`worker liveness on ${target.name} redis`, () => {
    const opened: ConversationQueue[] = [];
    after(async () => {
      await Promise.all(opened.map((q) => q.redis.quit()));
    });
    const open = async (label: string) => {
      const q = await openQueue(target, label, { shards: 4 });
      opened.push(q);
      return q;
    };

    test('a worker that stops beating has its conversations handed over long before their lease runs out; a live worker keeps its own', async () => {
      const q = await open('reap');
      const start = Date.now();
      const gone = ['p1:d1', 'p1:d2'];
      for (const c of gone) await hold(q, c, 'w-dead');
      const kept = await hold(q, 'p1:a1', 'w-alive');
      await new Promise((r) => setTimeout(r, 10));
      await q.markReady(['p1:later']); // ready after the dead worker claimed its conversations
      // The dead worker's one and only beat (it was killed after it); the live one keeps beating.
      await q.redis.cbBeat(q.keys.workers, 'w-dead', 400, 8);
      const metrics = createMetrics();
      const alive = new Liveness(q, 'w-alive', 400, LEASE, logger, metrics);
      alive.start();
      try {
        const score = async (c: string) => Number(await q.redis.zscore(q.keys.ready(q.keys.shardOf(c)), c));
        await waitUntil("the dead worker's conversations claimable", async () => (await Promise.all(gone.map(score))).every((s) => s <= Date.now()), 20_000);
        assert.ok(Date.now() - start < LEASE / 2, 'handed over well before the 60 s lease and lock would have run out');
        for (const c of gone) assert.ok((await score(c)) < (await score('p1:later')), `${c} goes before a conversation that became ready after it was claimed`);
        assert.deepEqual((await claimable(q)).sort(), [...gone, 'p1:later'].sort(), "the live worker's conversation stays leased to it");
        for (const c of gone) assert.equal(await q.redis.get(q.keys.conversation(c).lock), null, `${c}: the dead worker's lock is broken`);
        assert.equal(await q.redis.get(q.keys.conversation('p1:a1').lock), kept.value, "the live worker's lock is untouched");
        assert.equal(await q.redis.zscore(q.keys.workers, 'w-dead'), null, 'the dead worker left the registry');
        assert.match(await metrics.registry.getSingleMetricAsString('cb_conversations_taken_over_total'), / 2$/m);
        assert.match(await metrics.registry.getSingleMetricAsString('cb_dead_workers_total'), / 1$/m);
      } finally {
        await alive.stop();
      }
      assert.equal(await q.redis.zscore(q.keys.workers, 'w-alive'), null, 'a worker that stops cleanly leaves the registry');
    });

    test('a worker presumed dead while alive notices, counts it, and is fenced out of what was handed over', async () => {
      const q = await open('presumed');
      const c = conversationId('p1', 'slow');
      const held = await hold(q, c, 'w-slow');
      const metrics = createMetrics();
      const slow = new Liveness(q, 'w-slow', 400, LEASE, logger, metrics);
      slow.start();
      try {
        await waitUntil('w-slow beating', () => q.redis.zscore(q.keys.workers, 'w-slow'));
        // Another worker judges it dead, as after a silence past WORKER_DEAD_AFTER_MS.
        const judge = new Liveness(q, 'w-judge', 400, LEASE, logger, createMetrics());
        assert.equal(await judge.reap('w-slow'), 1);
        assert.equal(await judge.reap('w-slow'), 0, 'one reaper per dead worker');
        await waitUntil('w-slow noticed', async () => / 1$/m.test(await metrics.registry.getSingleMetricAsString('cb_worker_presumed_dead_total')), 10_000);
        assert.notEqual(await q.redis.zscore(q.keys.workers, 'w-slow'), null, 'and is back in the registry');
        const late = await q.next(c, held.value, { member: held.member, id: 'm-slow', sent: 1 });
        assert.equal(late.code, ScriptCode.Fenced, "its ack is refused: the conversation is someone else's now");
        assert.deepEqual(await claimable(q), [c], 'and the conversation is claimable');
      } finally {
        await slow.stop();
      }
    });
  });
}
