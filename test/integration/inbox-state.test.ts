/**
 * inbox-n.lua and the store around it on a standalone Redis and a 3-master cluster: claims are
 * exclusive, a worker's event replayed after a crash changes nothing twice, the waiting and
 * snoozed sets follow the conversations (in the script on one server, right after it on a
 * cluster), and the janitor repairs them from the hashes when a crash left them wrong.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { SentContents } from '../../src/bot/sent-contents';
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
      assert.deepEqual(
        (await store.waiting()).map((w) => [w.conversation, w.since]),
        [['101:a', now]],
      );
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

    test("an agent of ours may claim a conversation the Page Inbox's staff hold", async () => {
      const now = Date.now();
      await inbox.change(ref('p'), 'staff', { now, actor: 'page inbox', by: 'page inbox', cause: 'page_echo' });
      const c = await inbox.change(ref('p'), 'claim', { now: now + 1, actor: 'ann', guard: 'ann', by: 'ann', cause: 'claim' });
      assert.deepEqual([c.code, c.state.agent], ['ok', 'ann']);
    });

    test('round-robin hands waiting conversations to online agents who may see them, in turn, once', async () => {
      const prefix = uniquePrefix('rr');
      const rrStore = new InboxStore(redis, prefix);
      const records: { key: string; agent?: string; cause: string }[] = [];
      const chatlog = { append: async (rs: { account: string; user: string; agent?: string; cause: string }[]) => void records.push(...rs.map((r) => ({ key: `${r.account}:${r.user}`, agent: r.agent, cause: r.cause }))) };
      const rrInbox = new Inbox(rrStore, { logger, chatlog: chatlog as never });
      const queue = new ConversationQueue(redis, { prefix, shards: 4, dedupeTtlMs: 3_600_000, maxPerConversation: 100 });
      const presence = new Presence(redis, prefix);
      const now = Date.now();
      await presence.beat('ann', 'online', ['messenger:101'], now);
      await presence.beat('bob', 'online', ['messenger:101', 'messenger:202'], now);
      await presence.beat('cat', 'away', ['messenger:101'], now);
      await presence.beat('dan', 'online', ['messenger:202'], now); // another account only
      await presence.beat('eve', 'online', ['messenger:101'], now - 60_000); // silent for a minute: offline
      const users = ['r1', 'r2', 'r3', 'r4'];
      for (const [i, u] of users.entries()) await rrInbox.change(ref(u), 'handoff', { now: now + i, by: 'bot', cause: 'intent' });
      await rrInbox.change({ channel: 'messenger', account: '303', user: 'x' }, 'handoff', { now, by: 'bot', cause: 'intent' });
      // Stale entries (a crash between the script and the set on a cluster): a conversation back with
      // the bot, and one the Page Inbox's staff hold. Neither is waiting: round-robin leaves them.
      await rrInbox.change(ref('r5'), 'release', { now, by: 'system', cause: 'release' });
      await rrInbox.change(ref('r6'), 'staff', { now, actor: 'page inbox', by: 'page inbox', cause: 'page_echo' });
      await redis.zadd(rrStore.waitingKey, now - 10, '101:r5', now - 10, '101:r6');
      const janitor = () => new InboxJanitor(rrInbox, queue, presence, { noticeMs: 0, roundRobin: true, serves: () => true }, logger);
      await janitor().tick(now + 10);

      const agents = await Promise.all(users.map(async (u) => (await rrStore.read(`101:${u}`)).agent));
      assert.ok(
        agents.every((a) => a === 'ann' || a === 'bob'),
        `only ann and bob are online and see account 101: ${agents.join(',')}`,
      );
      for (let i = 1; i < agents.length; i++) assert.notEqual(agents[i], agents[i - 1], `in turn: ${agents.join(',')}`);
      assert.equal((await rrStore.read('101:r5')).status, 'bot', 'a conversation back with the bot is not assigned');
      assert.equal((await rrStore.read('101:r6')).agent, 'page inbox', 'the staff keep theirs');
      assert.equal((await rrStore.read('303:x')).status, 'waiting', 'nobody online sees account 303');

      // Two janitors at once (a leader lock that expired mid-round): each conversation is assigned once.
      records.length = 0;
      const more = ['s1', 's2', 's3', 's4', 's5', 's6'];
      for (const [i, u] of more.entries()) await rrInbox.change(ref(u), 'handoff', { now: now + 100 + i, by: 'bot', cause: 'intent' });
      records.length = 0;
      await Promise.all([janitor().tick(now + 200), janitor().tick(now + 200)]);
      for (const u of more) {
        const rr = records.filter((r) => r.key === `101:${u}` && r.cause === 'round_robin');
        assert.equal(rr.length, 1, `101:${u} assigned once: ${JSON.stringify(rr)}`);
        assert.equal((await rrStore.read(`101:${u}`)).agent, rr[0]!.agent);
        assert.equal(await redis.zcard(queue.keys.conversation(`101:${u}`).q), 1, 'one takeover queued');
      }
      assert.deepEqual(
        (await rrStore.waiting()).map((w) => w.conversation),
        ['303:x'],
      );
    });

    test('Instagram echoes: ours while a begun send of that content is owed one; an echo processed again after a crash answers the same', async () => {
      const contents = new SentContents(redis, uniquePrefix('contents'));
      const c = 'instagram:1:u';
      await contents.sending(c, 'K');
      await contents.sending(c, 'K'); // the same reply sent again after a timeout
      assert.equal(await contents.isOurs(c, 'e1', 'K'), true);
      assert.equal(await contents.isOurs(c, 'e1', 'K'), true, 'replayed: the same answer…');
      assert.equal(await contents.isOurs(c, 'e2', 'K'), true, '…and one count taken, not two: the late echo is ours too');
      assert.equal(await contents.isOurs(c, 'e3', 'K'), false, "a third echo of that content is a person's");
      assert.equal(await contents.isOurs(c, 'e3', 'K'), false);
      await contents.sending(c, 'L');
      await contents.notSent(c, 'L');
      assert.equal(await contents.isOurs(c, 'e4', 'L'), false, 'a send the Send API refused is owed no echo');
      assert.equal(await contents.isOurs(c, 'e5', undefined), false);
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
