/**
 * The queue's one-server scripts, which do in one round trip what takes several on a cluster
 * (their keys span slots), against real Redis: on a standalone server they keep every promise
 * the separate scripts keep; on the 3-master cluster the queue says it cannot run them, and
 * the callers take the separate scripts (the worker and gateway e2e suites run on both).
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { ChatlogStream } from '../../src/chatlog/stream';
import { ScriptCode } from '../../src/queue/errors';
import type { Claim, ConversationQueue } from '../../src/queue/queue';
import { redisTargets } from '../helpers/env';
import { conversationId, idOf, openQueue, textEvent } from '../helpers/queue';

const [standalone, cluster] = redisTargets();

/** A conversation with events queued, claimed and locked as a worker holds it, and its first event peeked. */
async function held(q: ConversationQueue, user: string, mids: string[]): Promise<{ c: string; claim: Claim; member: string }> {
  const c = conversationId('pb', user);
  await q.enqueue(
    c,
    mids.map((m, i) => textEvent('pb', user, m, i + 1)),
  );
  await q.markReady([c]);
  const claim = (await q.claim(q.keys.shardOf(c), 10_000, 10, 'w1')).find((x) => x.conversation === c);
  assert.ok(claim, 'claimed');
  const first = await q.next(c, `w1/${user}`, undefined, { acquireMs: 10_000, releaseIfEmpty: true });
  assert.equal(first.code, ScriptCode.Ok);
  return { c, claim, member: first.code === ScriptCode.Ok ? first.member : '' };
}

/** Counts the calls of one batch script from now on (they still run). */
function countCalls(q: ConversationQueue, script: 'cbFinish' | 'cbIngest'): { n: number } {
  const calls = { n: 0 };
  const original = q.redis[script].bind(q.redis) as (...args: unknown[]) => unknown;
  (q.redis as unknown as Record<string, unknown>)[script] = (...args: unknown[]) => {
    calls.n++;
    return original(...args);
  };
  return calls;
}

describe('queue batch scripts on standalone redis', () => {
  const opened: ConversationQueue[] = [];
  const open = async (label: string) => {
    const q = await openQueue(standalone!, label, { shards: 1 });
    opened.push(q);
    return q;
  };
  after(async () => {
    await Promise.all(opened.map((q) => q.redis.quit()));
  });

  test('finish-n records an event, acknowledges it and peeks the next; the last one releases the lock and hands the conversation back', async () => {
    const q = await open('finish');
    const log = new ChatlogStream(q.redis, q.keys.prefix, 2);
    const { c, claim, member } = await held(q, 'u1', ['a', 'b']);
    const ref = { channel: 'messenger', account: 'pb', user: 'u1' };
    const record = (mid: string) => ({ t: 'msg' as const, ...ref, mid, direction: 'in' as const, kind: 'text' as const, text: mid });
    const next = await q.finish({ claim, lockValue: 'w1/u1', ack: { member, id: 'a', sent: 1 }, records: log.entriesOf(ref, [record('a')]) });
    assert.ok(next.code === ScriptCode.Ok && idOf(next.payload) === 'b', 'the next event is peeked');
    const last = await q.finish({ claim, lockValue: 'w1/u1', ack: { member: next.member, id: 'b', sent: 1 }, records: log.entriesOf(ref, [record('b')]) });
    assert.deepEqual(last, { code: ScriptCode.Empty, handedBack: true });
    const k = q.keys.conversation(c);
    assert.equal(await q.redis.exists(k.lock), 0, 'the lock is released');
    assert.equal(await q.redis.zscore(q.keys.ready(claim.shard), c), null, 'the conversation left the ready index');
    assert.equal(await q.redis.hget(q.keys.owners(claim.shard), c), null, 'and its lease owner entry');
    const entries = await q.redis.xrange(log.entriesOf(ref, []).key, '-', '+');
    assert.deepEqual(
      entries.map(([, f]) => JSON.parse(f[1]!).mid),
      ['a', 'b'],
      'both records appended, in order',
    );
  });

  test('finish-n leaves a conversation ready when new work came while it was held', async () => {
    const q = await open('flag');
    const log = new ChatlogStream(q.redis, q.keys.prefix, 2);
    const { c, claim, member } = await held(q, 'u2', ['a']);
    await q.markReady([c]); // a message arrives while the worker holds it: mark-1 flags the lease
    const r = await q.finish({ claim, lockValue: 'w1/u2', ack: { member, id: 'a', sent: 1 }, records: log.entriesOf({ channel: 'messenger', account: 'pb', user: 'u2' }, []) });
    assert.deepEqual(r, { code: ScriptCode.Empty, handedBack: false });
    const score = Number(await q.redis.zscore(q.keys.ready(claim.shard), c));
    assert.ok(score <= Date.now() + 5, 'claimable again at once');
  });

  test('finish-n is fenced: a holder whose lock was taken over acknowledges nothing, but its records are kept', async () => {
    const q = await open('fenced');
    const log = new ChatlogStream(q.redis, q.keys.prefix, 2);
    const { c, claim, member } = await held(q, 'u3', ['a']);
    const k = q.keys.conversation(c);
    await q.redis.set(k.lock, 'w2/other', 'PX', 10_000);
    const ref = { channel: 'messenger', account: 'pb', user: 'u3' };
    const r = await q.finish({ claim, lockValue: 'w1/u3', ack: { member, id: 'a', sent: 1 }, records: log.entriesOf(ref, [{ t: 'msg', ...ref, mid: 'a', direction: 'in', kind: 'text' }]) });
    assert.equal(r.code, ScriptCode.Fenced);
    assert.equal(await q.redis.zcard(k.q), 1, 'nothing removed');
    assert.equal(await q.redis.hget(k.sent, 'c:a'), '1', 'the reply it sent is recorded, so it is not sent again');
    assert.notEqual(await q.redis.zscore(q.keys.ready(claim.shard), c), null, 'the new holder keeps the lease');
  });

  test('finish-n finishes several conversations in one call; one whose records cannot be appended is not acknowledged, the others are', async () => {
    const q = await open('many');
    const log = new ChatlogStream(q.redis, q.keys.prefix, 2);
    const a = await held(q, 'u4', ['a']);
    const b = await held(q, 'u5', ['b', 'b2']);
    const refA = { channel: 'messenger', account: 'pb', user: 'u4' };
    const refB = { channel: 'messenger', account: 'pb', user: 'u5' };
    const broken = { key: `${q.keys.prefix}:not-a-stream`, values: ['{}'] };
    await q.redis.set(broken.key, 'a string'); // XADD fails: WRONGTYPE
    const [ra, rb] = await q.finishMany([
      { claim: a.claim, lockValue: 'w1/u4', ack: { member: a.member, id: 'a', sent: 1 }, records: broken },
      { claim: b.claim, lockValue: 'w1/u5', ack: { member: b.member, id: 'b', sent: 1 }, records: log.entriesOf(refB, [{ t: 'msg', ...refB, mid: 'b', direction: 'in', kind: 'text' }]) },
    ]);
    assert.ok(ra instanceof Error && /WRONGTYPE/.test(ra.message), 'the failed append is reported');
    assert.equal(await q.redis.zcard(q.keys.conversation(a.c).q), 1, 'and nothing of that conversation acknowledged');
    assert.equal(await q.redis.get(q.keys.conversation(a.c).lock), 'w1/u4', 'its lock still held');
    assert.ok(!(rb instanceof Error) && rb!.code === ScriptCode.Ok && idOf(rb!.payload) === 'b2', 'the other conversation moved on');
    const retried = await q.finish({ claim: a.claim, lockValue: 'w1/u4', ack: { member: a.member, id: 'a', sent: 1 }, records: log.entriesOf(refA, []) });
    assert.deepEqual(retried, { code: ScriptCode.Empty, handedBack: true }, 'a retry with the records appended finishes it');
  });

  test('events finished in the same turn of the event loop go out in one finish-n call, each getting its own answer', async () => {
    const q = await open('batch');
    const log = new ChatlogStream(q.redis, q.keys.prefix, 2);
    const users = ['b1', 'b2', 'b3'];
    const all = [];
    for (const u of users) all.push({ u, ...(await held(q, u, [`${u}-a`, `${u}-b`])) });
    const calls = countCalls(q, 'cbFinish');
    const ref = (u: string) => ({ channel: 'messenger', account: 'pb', user: u });
    const results = await Promise.all(all.map((x) => q.finish({ claim: x.claim, lockValue: `w1/${x.u}`, ack: { member: x.member, id: `${x.u}-a`, sent: 1 }, records: log.entriesOf(ref(x.u), []) })));
    assert.equal(calls.n, 1, 'one call for the three');
    assert.deepEqual(
      results.map((r) => (r.code === ScriptCode.Ok ? idOf(r.payload) : r.code)),
      ['b1-b', 'b2-b', 'b3-b'],
    );
  });

  test("ingest-n queues a POST's events, appends its chatlog records and marks the conversations left with work ready", async () => {
    const q = await open('ingest');
    const log = new ChatlogStream(q.redis, q.keys.prefix, 2);
    const [a, b] = [conversationId('pb', 'i1'), conversationId('pb', 'i2')];
    const ref = { channel: 'messenger', account: 'pb', user: 'i2' };
    const confirmation = { ...textEvent('pb', 'i2', 'echo-1', 5), queue: false, confirms: { event: 'b0', index: 0 } };
    const [ra, rb] = await q.ingest(
      [
        { conversation: a, events: [textEvent('pb', 'i1', 'a1', 1), textEvent('pb', 'i1', 'a2', 2)] },
        { conversation: b, events: [confirmation] },
      ],
      log.entries([{ t: 'msg', ...ref, mid: 'echo-1', direction: 'out', kind: 'text', text: 'hi' }]),
    );
    assert.deepEqual([ra!.codes, ra!.depth, rb!.codes, rb!.depth], [[1, 1], 2, [4], 0]);
    assert.notEqual(await q.redis.zscore(q.keys.ready(0), a), null, 'the conversation with queued events is ready');
    assert.equal(await q.redis.zscore(q.keys.ready(0), b), null, 'one with nothing queued is not');
    assert.notEqual(await q.redis.hget(q.keys.conversation(b).sent, 'e:b0:0'), null, 'the confirmation is marked for the reply ledger');
    const [entry] = await q.redis.xrange(log.entries([{ t: 'msg', ...ref, mid: 'x', direction: 'out', kind: 'text' }])[0]!.key, '-', '+');
    assert.equal(JSON.parse(entry![1][1]!).mid, 'echo-1', 'the record is appended');
    const again = await q.ingest([{ conversation: a, events: [textEvent('pb', 'i1', 'a2', 2)] }], []);
    assert.deepEqual(again[0]!.codes, [2], 'a redelivery is a duplicate');
  });

  test('POSTs ingested in the same turn of the event loop share one ingest-n call, each getting its own answer', async () => {
    const q = await open('ingestbatch');
    const calls = countCalls(q, 'cbIngest');
    const c = conversationId('pb', 'i3');
    const posts = await Promise.all(['x1', 'x2', 'x1'].map((m, i) => q.ingest([{ conversation: c, events: [textEvent('pb', 'i3', m, i + 1)] }], [])));
    assert.equal(calls.n, 1);
    assert.deepEqual(
      posts.map((p) => p[0]!.codes),
      [[1], [1], [2]],
      'entries run in the order they came: the third is a duplicate of the first',
    );
  });

  test('ingest-n keeps the overflow rules: over the cap events wait, beyond QUEUE_OVERFLOW_MAX they are refused', async () => {
    const q = await openQueue(standalone!, 'ingestcap', { shards: 1, cap: 1, maxOverflow: 1 });
    opened.push(q);
    const c = conversationId('pb', 'i4');
    const [r] = await q.ingest([{ conversation: c, events: [1, 2, 3].map((i) => textEvent('pb', 'i4', `o${i}`, i)) }], []);
    assert.deepEqual([r!.codes, r!.depth, r!.overflow], [[1, 3, 5], 1, 1]);
  });

  test('claim-peek-n leases a round of conversations, takes each lock and peeks each first event in one call', async () => {
    const q = await open('take');
    const ids = ['u6', 'u7', 'u8'];
    for (const u of ids) await q.enqueue(conversationId('pb', u), [textEvent('pb', u, `${u}-1`, 1), textEvent('pb', u, `${u}-2`, 2)]);
    await q.markReady(ids.map((u) => conversationId('pb', u)));
    const { claims: taken } = await q.claimAndPeek([{ shard: 0, max: 2 }], 10_000, 'w1', { lockPrefix: 'w1/round', lockTtlMs: 10_000, busyDelayMs: 200 });
    assert.equal(taken.length, 2, 'no more than asked for');
    for (const t of taken) {
      const user = t.conversation.split(':').pop()!;
      assert.ok(t.first.code === ScriptCode.Ok && idOf(t.first.payload) === `${user}-1`, 'its first event, in order');
      assert.equal(await q.redis.get(q.keys.conversation(t.conversation).lock), t.lockValue, 'the lock is taken with the value given back');
      assert.ok(t.lockValue.startsWith('w1/'), 'the value names the worker, for the reaper');
      assert.equal(await q.redis.hget(q.keys.owners(0), t.conversation), 'w1', 'the lease owner is recorded');
      assert.equal(Number(await q.redis.zscore(q.keys.ready(0), t.conversation)), t.lease, 'the lease is its score');
    }
    assert.notEqual(taken[0]!.lockValue, taken[1]!.lockValue, 'each visit its own lock value');
  });

  test('claim-peek-n hands back at once a conversation whose lock is busy (claimable after the delay) or whose queue is empty', async () => {
    const q = await open('takeback');
    const busy = conversationId('pb', 'busy');
    const empty = conversationId('pb', 'empty');
    await q.enqueue(busy, [textEvent('pb', 'busy', 'b1', 1)]);
    await q.redis.set(q.keys.conversation(busy).lock, 'w2/other', 'PX', 10_000);
    await q.markReady([busy, empty]);
    const before = Date.now();
    const { claims: taken } = await q.claimAndPeek([{ shard: 0, max: 10 }], 10_000, 'w1', { lockPrefix: 'w1/round', lockTtlMs: 10_000, busyDelayMs: 500 });
    const by = new Map(taken.map((t) => [t.conversation, t.first.code]));
    assert.deepEqual(Object.fromEntries(by), { [busy]: ScriptCode.Busy, [empty]: ScriptCode.Empty });
    assert.equal(await q.redis.get(q.keys.conversation(busy).lock), 'w2/other', 'the holder keeps its lock');
    const score = Number(await q.redis.zscore(q.keys.ready(0), busy));
    assert.ok(score >= before + 400 && score <= Date.now() + 600, `the busy one is claimable again after the delay (score ${score - before} ms on)`);
    assert.equal(await q.redis.zscore(q.keys.ready(0), empty), null, 'the empty one left the ready index');
    assert.equal(await q.redis.exists(q.keys.conversation(empty).lock), 0, 'and holds no lock');
    assert.equal(await q.redis.hlen(q.keys.owners(0)), 0, 'no lease owner entry left behind');
  });

  test('claim-peek-n moves events waiting in the overflow list into the queue, as next-6 does', async () => {
    const q = await openQueue(standalone!, 'takeover', { shards: 1, cap: 1 });
    opened.push(q);
    const c = conversationId('pb', 'flood');
    await q.enqueue(
      c,
      [1, 2, 3].map((i) => textEvent('pb', 'flood', `f${i}`, i)),
    );
    await q.markReady([c]);
    const {
      claims: [t],
    } = await q.claimAndPeek([{ shard: 0, max: 1 }], 10_000, 'w1', { lockPrefix: 'w1/r', lockTtlMs: 10_000, busyDelayMs: 200 });
    assert.ok(t!.first.code === ScriptCode.Ok && idOf(t!.first.payload) === 'f1');
    assert.deepEqual([t!.first.depth, t!.first.overflow], [1, 2]);
  });
});

describe('queue batch scripts on cluster redis', () => {
  test('a cluster takes the separate scripts (the keys of finish-n, claim-peek-n and ingest-n span slots)', async () => {
    const q = await openQueue(cluster!, 'cluster-batch');
    try {
      assert.equal(q.oneServer, false);
      // What the gateway then does: enqueue-6 per conversation, then the mark (test/integration/queue.test.ts).
    } finally {
      await q.redis.quit();
    }
  });
});
