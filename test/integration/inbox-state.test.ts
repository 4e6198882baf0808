/**
 * inbox-n.lua and the store around it on a standalone Redis and a 3-master cluster: claims are
 * exclusive, a worker's event replayed after a crash changes nothing twice, the waiting and
 * snoozed sets follow the conversations (in the script on one server, right after it on a
 * cluster), and the janitor repairs them from the hashes when a crash left them wrong.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { InboxJanitor } from '../../src/inbox/janitor';
import { Presence } from '../../src/inbox/presence';
import { Inbox } from '../../src/inbox/service';
import { InboxStore } from '../../src/inbox/state';
import { createLogger } from '../../src/log';
import { ConversationQueue } from '../../src/queue/queue';
import { connectRedis, type RedisClient } from '../../src/queue/redis';
import { redisTargets, uniquePrefix } from '../helpers/env';

const logger = createLogger('silent');
const ref = (user: string) => ({ channel: 'messenger', account: '101', user });

for (const target of redisTargets()) {
  describe(`inbox state on ${target.name} Redis`, { timeout: 60_000 }, () => {
    let redis: RedisClient;
    let store: InboxStore;
    let inbox: Inbox;
    before(async () => {
      redis = await connectRedis({ ...(target.url ? { url: target.url } : { clusterNodes: target.clusterNodes! }), commandTimeoutMs: 2_000 }, () => undefined);
      store = new InboxStore(redis, uniquePrefix('inboxstate'));
      inbox = new Inbox(store, { logger });
    });
    after(() => redis?.quit());

    test('a claim is exclusive; the holder and an admin (no guard) may act; the waiting set follows', async () => {
      const now = Date.now();
      const h = await inbox.change(ref('a'), 'handoff', { now, by: 'bot', cause: 'intent' });
      assert.equal(h.state.status, 'waiting');
      assert.deepEqual((await store.waiting()).map((w) => [w.conversation, w.since]), [['101:a', now]]);
      assert.equal((await inbox.change(ref('a'), 'claim', { now: now + 1, actor: 'ann', guard: 'ann', by: 'ann', cause: 'claim' })).code, 'ok');
      const second = await inbox.change(ref('a'), 'claim', { now: now + 2, actor: 'cat', guard: 'cat', by: 'cat', cause: 'claim' });
      assert.deepEqual([second.code, second.state.agent, second.state.since], ['conflict', 'ann', now + 1]);
      assert.equal((await inbox.change(ref('a'), 'resolve', { now: now + 3, guard: 'cat', by: 'cat', cause: 'resolve' })).code, 'conflict');
      assert.deepEqual(await store.waiting(), []);
      const snooze = await inbox.change(ref('a'), 'snooze', { now: now + 4, guard: 'ann', by: 'ann', cause: 'snooze', arg: now + 60_000 });
      assert.equal(snooze.state.status, 'snoozed');
      assert.deepEqual(await store.snoozedDue(now + 60_000), ['101:a']);
      const woke = await inbox.change(ref('a'), 'wake', { now: now + 60_000, by: 'system', cause: 'snooze_ended' });
      assert.deepEqual([woke.state.status, woke.state.agent], ['assigned', 'ann'], 'back to its agent');
      assert.deepEqual(await store.snoozedDue(now + 120_000), []);
    });

    test('an event replayed after a crash answers as the first time and changes nothing more', async () => {
      const now = Date.now();
      const first = await inbox.change(ref('b'), 'handoff', { now, by: 'bot', cause: 'intent', replay: 'm-1', id: 'm-1|handoff' });
      await inbox.change(ref('b'), 'claim', { now: now + 5, actor: 'ann', guard: 'ann', by: 'ann', cause: 'claim' });
      const again = await inbox.change(ref('b'), 'handoff', { now, by: 'bot', cause: 'intent', replay: 'm-1', id: 'm-1|handoff' });
      assert.deepEqual([again.changed, again.state.status, again.record?.id], [true, 'waiting', first.record?.id], 'the same record again (the chatlog keeps one row)');
      assert.equal((await store.read('101:b')).agent, 'ann', 'the claim made since stands');
    });

    test('an agent of ours may claim a conversation the Page Inbox\'s staff hold', async () => {
      const now = Date.now();
      await inbox.change(ref('p'), 'staff', { now, actor: 'page inbox', by: 'page inbox', cause: 'page_echo' });
      const c = await inbox.change(ref('p'), 'claim', { now: now + 1, actor: 'ann', guard: 'ann', by: 'ann', cause: 'claim' });
      assert.deepEqual([c.code, c.state.agent], ['ok', 'ann']);
    });

    test('the janitor repairs the sets from the conversations', async () => {
      const now = Date.now();
      await inbox.change(ref('c'), 'handoff', { now, by: 'bot', cause: 'intent' });
      await redis.zrem(store.waitingKey, '101:c'); // a crash between the script and the set (cluster)
      await redis.zadd(store.waitingKey, now, '101:gone'); // an entry whose conversation was erased
      const queue = new ConversationQueue(redis, { prefix: store.prefix, shards: 4, dedupeTtlMs: 3_600_000, maxPerConversation: 100 });
      const janitor = new InboxJanitor(inbox, queue, new Presence(redis, store.prefix), { noticeMs: 0, roundRobin: false, serves: () => true }, logger);
      assert.ok((await janitor.repair()) >= 2);
      const waiting = (await store.waiting()).map((w) => w.conversation);
      assert.ok(waiting.includes('101:c') && !waiting.includes('101:gone'));
    });
  });
}
