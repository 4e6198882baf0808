/** The conversation lock (src/bot/lock.ts) on real Redis: what it reports as lost is really lost. */
import assert from 'node:assert/strict';
import { after, describe, mock, test } from 'node:test';
import { ConversationLocks } from '../../src/bot/lock';
import { createLogger } from '../../src/log';
import { createMetrics } from '../../src/metrics';
import { ScriptCode } from '../../src/queue/errors';
import { conversationId } from '../helpers/queue';
import type { ConversationQueue } from '../../src/queue/queue';
import { redisTargets } from '../helpers/env';
import { openQueue, textEvent } from '../helpers/queue';

const target = redisTargets()[0]!;

describe('conversation lock', () => {
  let q: ConversationQueue;
  after(async () => {
    mock.timers.reset();
    await q?.redis.quit();
  });

  test('a lock another worker took while its holder was stalled is lost: counted, and its holder told to stop', async () => {
    q = await openQueue(target, 'lock-lost');
    const c = conversationId('p1', 'lost');
    const key = q.keys.conversation(c).lock;
    await q.enqueue(c, [textEvent('p1', 'lost', 'l1', 1)]);
    const metrics = createMetrics();
    const lock = new ConversationLocks(q.redis, 600, createLogger('silent'), metrics, 'host-1-dddddd').adopt(key, c);
    assert.equal((await q.next(c, lock.value, undefined, { acquireMs: 600 })).code, ScriptCode.Ok);
    await q.redis.set(key, 'host-2-eeeeee/theirs', 'PX', 60_000); // it lapsed, and another worker took it
    await new Promise((r) => setTimeout(r, 1_000)); // past the TTL: every extension was refused
    assert.equal(lock.lost, true);
    assert.match(await metrics.registry.getSingleMetricAsString('cb_lock_lost_total'), / 1$/m);
    await lock.release();
    assert.equal(await q.redis.get(key), 'host-2-eeeeee/theirs', 'and the new holder keeps it');
    await q.redis.quit();
  });

  test('a lock released by next-4 while its extension is in flight is not counted as lost', async () => {
    q = await openQueue(target, 'lock-race');
    const c = conversationId('p1', 'race');
    const key = q.keys.conversation(c).lock;
    await q.enqueue(c, [textEvent('p1', 'race', 'r1', 1)]);
    const metrics = createMetrics();
    mock.timers.enable({ apis: ['setTimeout'] });
    const lock = new ConversationLocks(q.redis, 3_000, createLogger('silent'), metrics, 'host-1-cccccc').adopt(key, c);
    const first = await q.next(c, lock.value, undefined, { acquireMs: 3_000, releaseIfEmpty: true });
    assert.ok(first.code === ScriptCode.Ok);
    // The worker's ack finds the queue empty and releases the lock (next-4)… and, on the same
    // connection, the extension's timer fires just after that call went out.
    const acked = q.next(c, lock.value, { member: first.member, id: 'r1', sent: 1 }, { releaseIfEmpty: true });
    mock.timers.tick(1_000);
    assert.equal((await acked).code, ScriptCode.Empty);
    lock.forget(); // what the worker does on Empty: the lock is gone, by its own hand
    await new Promise((r) => setImmediate(r));
    await q.redis.ping(); // the extension's (refused) answer has come back by now
    await new Promise((r) => setImmediate(r));
    assert.equal(lock.lost, false, 'a lock the worker let go of is not "lost"');
    assert.match(await metrics.registry.getSingleMetricAsString('cb_lock_lost_total'), / 0$/m);
    mock.timers.reset();
  });
});
