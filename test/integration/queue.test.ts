/** The queue's scripts against real Redis: the same suite on a standalone server and on a 3-master cluster. */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { ConversationLocks } from '../../src/bot/lock';
import { createLogger } from '../../src/log';
import { createMetrics } from '../../src/metrics';
import { EnqueueCode, LockLostError, ScriptCode } from '../../src/queue/errors';
import type { ConversationQueue } from '../../src/queue/queue';
import { masters } from '../../src/queue/redis';
import { overflowStats, Sweeper } from '../../src/queue/sweeper';
import { ChatlogStream } from '../../src/chatlog/stream';
import { redisTargets } from '../helpers/env';
import { conversationId, idOf, openQueue, textEvent } from '../helpers/queue';

const logger = createLogger('silent');

for (const target of redisTargets()) {
  describe(`queue on ${target.name} redis`, () => {
    const opened: ConversationQueue[] = [];
    const open = async (label: string, opts?: { shards?: number; cap?: number; maxOverflow?: number }) => {
      const q = await openQueue(target, label, opts);
      opened.push(q);
      return q;
    };
    after(async () => {
      await Promise.all(opened.map((q) => q.redis.quit()));
    });

    /** Takes everything out of one conversation in queue order, acking as a worker would. */
    async function drainAll(q: ConversationQueue, c: string): Promise<string[]> {
      const lock = await q.redis.set(q.keys.conversation(c).lock, 'me', 'PX', 10_000);
      assert.equal(lock, 'OK');
      const seen: string[] = [];
      let r = await q.next(c, 'me');
      while (r.code === ScriptCode.Ok) {
        seen.push(idOf(r.payload));
        r = await q.next(c, 'me', { member: r.member, id: idOf(r.payload), sent: 1 });
      }
      assert.equal(r.code, ScriptCode.Empty);
      await q.redis.del(q.keys.conversation(c).lock);
      return seen;
    }

    test('events come out by platform timestamp, then arrival, whatever order they arrived in', async () => {
      const q = await open('order');
      const c = conversationId('p1', 'u1');
      await q.enqueue(c, [textEvent('p1', 'u1', 'm3', 3000), textEvent('p1', 'u1', 'm1', 1000)]);
      await q.enqueue(c, [textEvent('p1', 'u1', 'm2a', 2000), textEvent('p1', 'u1', 'm2b', 2000)]);
      await q.enqueue(c, [textEvent('p1', 'u1', 'm2c', 2000)]);
      assert.deepEqual(await drainAll(q, c), ['m1', 'm2a', 'm2b', 'm2c', 'm3']);
    });

    test('a redelivered event is acknowledged as a duplicate and never queued twice, even after it was processed', async () => {
      const q = await open('dedupe');
      const c = conversationId('p1', 'u2');
      const first = await q.enqueue(c, [textEvent('p1', 'u2', 'a', 1), textEvent('p1', 'u2', 'b', 2)]);
      assert.deepEqual(first.codes, [EnqueueCode.Queued, EnqueueCode.Queued]);
      const again = await q.enqueue(c, [textEvent('p1', 'u2', 'b', 2), textEvent('p1', 'u2', 'c', 3)]);
      assert.deepEqual(again.codes, [EnqueueCode.Duplicate, EnqueueCode.Queued]);
      assert.deepEqual(await drainAll(q, c), ['a', 'b', 'c']);
      const late = await q.enqueue(c, [textEvent('p1', 'u2', 'a', 1)]);
      assert.deepEqual(late.codes, [EnqueueCode.Duplicate]);
      const ttl = await q.redis.pttl(q.keys.conversation(c).seen);
      assert.ok(ttl > 47 * 3600_000, `dedupe markers live at least 48 h (pttl ${ttl})`);
    });

    test('over the per-conversation cap, events wait in the overflow list and come out in their order as the queue drains', async () => {
      const q = await open('cap', { cap: 3 });
      const c = conversationId('p1', 'u3');
      const k = q.keys.conversation(c);
      const r = await q.enqueue(
        c,
        [1, 2, 3, 4, 5].map((i) => textEvent('p1', 'u3', `m${i}`, i)),
      );
      assert.deepEqual([r.codes, r.depth, r.overflow], [[1, 1, 1, 3, 3], 3, 2]);
      // The worker acks the first: the head of the overflow list takes its place.
      await q.redis.set(k.lock, 'me', 'PX', 10_000);
      const first = await q.next(c, 'me');
      assert.ok(first.code === ScriptCode.Ok && idOf(first.payload) === 'm1');
      const second = await q.next(c, 'me', { member: first.member, id: 'm1', sent: 1 });
      assert.ok(second.code === ScriptCode.Ok && idOf(second.payload) === 'm2');
      assert.deepEqual([second.depth, second.overflow], [3, 1]);
      await q.redis.del(k.lock);
      // The queue is full again and m5 still waits: new events go behind it, never past it.
      const later = await q.enqueue(c, [textEvent('p1', 'u3', 'm6', 6), textEvent('p1', 'u3', 'm7', 7)]);
      assert.deepEqual(later.codes, [3, 3]);
      assert.deepEqual(await drainAll(q, c), ['m2', 'm3', 'm4', 'm5', 'm6', 'm7']);
      assert.equal(await q.redis.exists(k.overflow, k.q, k.ev), 0, 'nothing left behind');
      const again = await q.enqueue(c, [textEvent('p1', 'u3', 'm5', 5), textEvent('p1', 'u3', 'm8', 8)]);
      assert.deepEqual(again.codes, [2, 1], 'a redelivery of a parked event is a duplicate; with room, new events are queued directly');
    });

    test('with QUEUE_OVERFLOW_MAX events waiting, more are refused without being marked seen, and taken once there is room', async () => {
      const q = await open('full', { cap: 2, maxOverflow: 2 });
      const c = conversationId('p1', 'u6');
      const r = await q.enqueue(
        c,
        [1, 2, 3, 4, 5, 6].map((i) => textEvent('p1', 'u6', `f${i}`, i)),
      );
      assert.deepEqual(r.codes, [1, 1, 3, 3, 5, 5]);
      const retry = await q.enqueue(c, [textEvent('p1', 'u6', 'f5', 5)]);
      assert.deepEqual(retry.codes, [5], 'still full: refused again, not a duplicate');
      const k = q.keys.conversation(c);
      await q.redis.set(k.lock, 'me', 'PX', 10_000);
      const head = await q.next(c, 'me');
      assert.ok(head.code === ScriptCode.Ok);
      await q.next(c, 'me', { member: head.member, id: idOf(head.payload), sent: 1 });
      await q.redis.del(k.lock);
      const later = await q.enqueue(c, [textEvent('p1', 'u6', 'f5', 5), textEvent('p1', 'u6', 'f6', 6)]);
      assert.deepEqual(later.codes, [3, 5], 'the redelivery takes the freed place');
      assert.deepEqual(await drainAll(q, c), ['f2', 'f3', 'f4', 'f5']);
    });

    test('events parked by an older version (bare payloads, empty queue) are found by the sweeper and answered in order', async () => {
      const q = await open('legacy', { cap: 3, shards: 4 });
      const c = conversationId('p3', 'old');
      const k = q.keys.conversation(c);
      const parked = [1, 2, 3, 4].map((i) => textEvent('p3', 'old', `o${i}`, i).payload);
      await q.redis.rpush(k.overflow, ...parked);
      const sweeper = new Sweeper(q, 60_000, logger, createMetrics());
      assert.deepEqual(await overflowStats(q), { conversations: 0, events: 0 }, 'nothing counted before a sweep');
      assert.equal(await sweeper.sweep(50), 1, 'the conversation is put back into the ready index');
      assert.notEqual(await q.redis.zscore(q.keys.ready(q.keys.shardOf(c)), c), null);
      assert.deepEqual(await overflowStats(q), { conversations: 1, events: 4 }, 'the waiting events are counted for the metrics');
      const r = await q.enqueue(c, [textEvent('p3', 'old', 'o5', 5)]);
      assert.deepEqual([r.codes, r.depth, r.overflow], [[3], 0, 5], 'a new event goes behind them, even with room in the queue');
      assert.deepEqual(await drainAll(q, c), ['o1', 'o2', 'o3', 'o4', 'o5']);
      await sweeper.sweep(50);
      assert.deepEqual(await overflowStats(q), { conversations: 0, events: 0 });
    });

    test('only the lock holder can ack: a worker whose lock lapsed is fenced and removes nothing', async () => {
      const q = await open('fence');
      const c = conversationId('p1', 'u4');
      await q.enqueue(c, [textEvent('p1', 'u4', 'x1', 1), textEvent('p1', 'u4', 'x2', 2)]);
      const k = q.keys.conversation(c);
      await q.redis.set(k.lock, 'old-holder', 'PX', 10_000);
      const peek = await q.next(c, 'old-holder');
      assert.equal(peek.code, ScriptCode.Ok);
      // The lock lapses and another worker takes it.
      await q.redis.set(k.lock, 'new-holder', 'PX', 10_000);
      const late = await q.next(c, 'old-holder', { member: peek.code === ScriptCode.Ok ? peek.member : '', id: 'x1', sent: 1 });
      assert.equal(late.code, ScriptCode.Fenced);
      assert.equal(await q.redis.zcard(k.q), 2, 'nothing removed');
      assert.equal(await q.redis.hget(k.sent, 'c:x1'), '1', 'but the reply it sent is recorded, so it is not sent again');
      await assert.rejects(q.beginReply(c, 'old-holder', 'x1', 1), (e: unknown) => e instanceof LockLostError && e.context.mid === 'x1', 'nor may it start another send');
      const next = await q.next(c, 'new-holder');
      assert.ok(next.code === ScriptCode.Ok && idOf(next.payload) === 'x1' && next.confirmed === 1);
    });

    test('next can take the lock with its peek (busy if another holds it) and release it when the queue runs empty', async () => {
      const q = await open('acquire');
      const c = conversationId('p1', 'u5');
      const k = q.keys.conversation(c);
      await q.enqueue(c, [textEvent('p1', 'u5', 'y1', 1)]);
      const peek = await q.next(c, 'mine', undefined, { acquireMs: 10_000, releaseIfEmpty: true });
      assert.ok(peek.code === ScriptCode.Ok && idOf(peek.payload) === 'y1');
      assert.equal(await q.redis.get(k.lock), 'mine');
      assert.ok((await q.redis.pttl(k.lock)) > 9_000, 'taken with the TTL asked for');
      assert.equal((await q.next(c, 'other', undefined, { acquireMs: 10_000 })).code, ScriptCode.Busy, 'a second worker is refused');
      assert.equal(await q.redis.get(k.lock), 'mine', 'and changes nothing');
      const done = await q.next(c, 'mine', { member: peek.code === ScriptCode.Ok ? peek.member : '', id: 'y1', sent: 1 }, { releaseIfEmpty: true });
      assert.equal(done.code, ScriptCode.Empty);
      assert.equal(await q.redis.get(k.lock), null, 'released with the ack that emptied the queue');
      // A worker whose lock lapsed releases nothing: the new holder keeps it.
      await q.enqueue(c, [textEvent('p1', 'u5', 'y2', 2)]);
      await q.redis.set(k.lock, 'new-holder', 'PX', 10_000);
      assert.equal((await q.next(c, 'mine', undefined, { releaseIfEmpty: true })).code, ScriptCode.Fenced);
      assert.equal(await q.redis.get(k.lock), 'new-holder');
    });

    test('claiming leases a conversation; new work lowers the lease so the holder cannot drop it', async () => {
      const q = await open('claim', { shards: 1 });
      await q.markReady(['p1:a', 'p1:b']);
      const claims = await q.claim(0, 10_000, 10);
      assert.deepEqual(claims.map((x) => x.conversation).sort(), ['p1:a', 'p1:b']);
      assert.deepEqual(await q.claim(0, 10_000, 10), [], 'leased conversations are not claimable');
      const a = claims.find((x) => x.conversation === 'p1:a')!;
      const b = claims.find((x) => x.conversation === 'p1:b')!;
      // New work for b arrives while its holder is busy: nobody else may claim b meanwhile (its
      // lock is busy), and b must survive the holder's "queue empty" settle.
      await q.markReady(['p1:b']);
      await q.markReady(['p1:b']);
      assert.deepEqual(await q.claim(0, 10_000, 10), [], 'still leased: no spinning on a busy lock');
      assert.equal(await q.settle(a, 'remove'), true);
      assert.equal(await q.settle(b, 'remove'), false);
      assert.deepEqual(
        (await q.claim(0, 10_000, 10)).map((x) => x.conversation),
        ['p1:b'],
      );
    });

    test('a lease that runs out makes the conversation claimable again (a dead holder)', async () => {
      const q = await open('lease', { shards: 1 });
      await q.markReady(['p1:dead']);
      assert.equal((await q.claim(0, 200, 1)).length, 1);
      assert.equal((await q.claim(0, 200, 1)).length, 0);
      await new Promise((r) => setTimeout(r, 250));
      assert.deepEqual(
        (await q.claim(0, 200, 1)).map((x) => x.conversation),
        ['p1:dead'],
      );
    });

    test('the sweeper restores queued conversations missing from the ready index', async () => {
      const q = await open('sweep', { shards: 4 });
      await q.enqueue('p2:lost', [textEvent('p2', 'lost', 'l1', 1)]);
      await q.enqueue('p2:fine', [textEvent('p2', 'fine', 'f1', 1)]);
      await q.markReady(['p2:fine']);
      const sweeper = new Sweeper(q, 60_000, logger, createMetrics());
      assert.equal(await sweeper.sweep(50), 1);
      const score = await q.redis.zscore(q.keys.ready(q.keys.shardOf('p2:lost')), 'p2:lost');
      assert.notEqual(score, null);
      assert.equal(await sweeper.sweep(50), 0);
    });

    test('the conversation lock is extended while held and refuses a second holder', async () => {
      const q = await open('lock');
      const c = conversationId('p1', 'lk');
      const key = q.keys.conversation(c).lock;
      await q.enqueue(c, [textEvent('p1', 'lk', 'k1', 1)]);
      const metrics = createMetrics();
      const mine = new ConversationLocks(q.redis, 600, logger, metrics, 'host-1-aaaaaa');
      const theirs = new ConversationLocks(q.redis, 600, logger, metrics, 'host-2-bbbbbb');
      // Taken by next-4 the way the worker takes it, then extended by lock.ts.
      const lock = mine.adopt(key, c);
      assert.ok(lock.value.startsWith('host-1-aaaaaa/'), 'the value names its worker');
      assert.equal((await q.next(c, lock.value, undefined, { acquireMs: 600 })).code, ScriptCode.Ok);
      const other = theirs.adopt(key, c);
      assert.equal((await q.next(c, other.value, undefined, { acquireMs: 600 })).code, ScriptCode.Busy);
      other.forget();
      await new Promise((r) => setTimeout(r, 1_300)); // two TTLs: only extension keeps it
      assert.equal(await q.redis.get(key), lock.value);
      assert.equal(lock.lost, false);
      await lock.release();
      assert.equal(await q.redis.get(key), null);
      assert.match(await metrics.registry.getSingleMetricAsString('cb_lock_lost_total'), / 0$/m);
    });

    if (target.name === 'cluster') {
      test('a conversation lives in one slot; ready shards spread over every master', async () => {
        const q = await open('slots', { shards: 16 });
        const k = q.keys.conversation('123:456');
        const slots = await Promise.all(Object.values(k).map((key) => q.redis.cluster('KEYSLOT', key)));
        assert.equal(new Set(slots).size, 1);
        const convs = Array.from({ length: 200 }, (_, i) => `p:${i}`);
        await q.markReady(convs);
        const perMaster = await Promise.all(masters(q.redis).map(async (m) => (await m.keys(`${q.keys.prefix}:ready:*`)).length));
        assert.equal(
          perMaster.reduce((a, b) => a + b, 0),
          16,
        );
        assert.ok(
          perMaster.every((n) => n > 0),
          `every master holds ready shards: ${perMaster}`,
        );
      });

      test('the work of many conversations spreads over every master: keys, commands, chatlog stream shards', async () => {
        const q = await open('spread', { shards: 16 });
        const nodes = masters(q.redis);
        const commands = async () => Promise.all(nodes.map(async (m) => Number(/total_commands_processed:(\d+)/.exec(await m.info('stats'))![1])));
        const before = await commands();
        const convs = Array.from({ length: 300 }, (_, i) => conversationId('pg', `user${i}`));
        for (const c of convs) await q.enqueue(c, [textEvent('pg', c.split(':')[1]!, `${c}-m1`, 1)]);
        await q.markReady(convs);
        for (let shard = 0; shard < 16; shard++) await q.claim(shard, 5_000, 100);
        const stream = new ChatlogStream(q.redis, q.keys.prefix, 4);
        await stream.append(convs.map((c) => ({ t: 'msg', channel: 'messenger', account: 'pg', user: c.split(':')[1]!, mid: `${c}-m1`, direction: 'in', kind: 'text', text: 'x' }) as const));
        const ops = (await commands()).map((n, i) => n - before[i]!);
        const keys = await Promise.all(nodes.map(async (m) => (await m.keys(`${q.keys.prefix}:*`)).length));
        const streamShards = await Promise.all(nodes.map(async (m) => (await m.keys(`${q.keys.prefix}:chatlog:*`)).length));
        const total = ops.reduce((a, b) => a + b, 0);
        console.log(`[spread] commands per master ${ops.join(' / ')}; keys per master ${keys.join(' / ')}; chatlog stream shards per master ${streamShards.join(' / ')}`);
        for (const [i, n] of ops.entries()) assert.ok(n / total > 0.15, `master ${i} took ${n} of ${total} commands`);
        for (const [i, n] of keys.entries()) assert.ok(n / keys.reduce((a, b) => a + b, 0) > 0.15, `master ${i} holds ${n} keys`);
        assert.ok(streamShards.filter((n) => n > 0).length >= 2, `chatlog stream shards on more than one master: ${streamShards}`);
      });
    }
  });
}
