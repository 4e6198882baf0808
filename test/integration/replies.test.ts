/**
 * Replies as the user gets them, whatever the bot or the agent wrote: a reply longer than the
 * platform takes arrives as several messages, in order, each sent once; the chatlog records
 * what went out; an event of a channel the deployment no longer has is recorded, not lost.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { FakeGraph } from '../../src/dev/fake-graph';
import type { BotHandler } from '../../src/bot/handler';
import { conversationKey } from '../../src/channels/conversation';
import type { InboundEvent } from '../../src/channels/event';
import { startTestApp } from '../helpers/app';
import { redisTargets } from '../helpers/env';
import { body, post, text } from '../helpers/fb';
import { waitUntil } from '../helpers/wait';

const target = redisTargets()[0]!;

describe('replies within the platform’s limits', () => {
  const graph = new FakeGraph({ anyTokenPage: '101' });
  let graphUrl: string;
  before(async () => {
    graphUrl = await graph.listen();
  });
  after(() => graph.close());

  test('a 4,500-character reply with 15 options reaches Messenger as 3 messages in order, the last with 13 quick replies', async () => {
    const long = Array.from({ length: 900 }, (_, i) => `w${i}`)
      .join(' ')
      .padEnd(4_500, '.');
    const bot: BotHandler = {
      turn: async () => ({ replies: [{ text: long, quickReplies: Array.from({ length: 15 }, (_, i) => ({ title: `Option ${i}`, payload: `P${i}` })) }, { text: 'and one more' }] }),
    };
    const app = await startTestApp('long', { ...target.env, GRAPH_API_URL: graphUrl }, { bot });
    try {
      await post(app.url, body([text('101', 'reader', 1, 'm-long', 'tell me everything')]));
      await waitUntil('all parts sent', () => graph.messagesTo('reader').length >= 4, 10_000);
      const sent = graph.messagesTo('reader');
      assert.deepEqual(
        sent.map((c) => c.metadata),
        [0, 1, 2, 3].map((i) => ({ mid: 'm-long', i })),
        'each part its own ledger entry, in order',
      );
      assert.equal(
        sent
          .slice(0, 3)
          .map((c) => c.text)
          .join(' '),
        long,
        'nothing lost or reordered at the cuts',
      );
      assert.ok(sent.every((c) => (c.text ?? '').length <= 2_000));
      const quick = (sent[2]!.body.message as { quick_replies?: unknown[] }).quick_replies;
      assert.equal(quick?.length, 13);
      assert.equal(sent[3]!.text, 'and one more');
    } finally {
      await app.stop();
    }
  });

  test('an event queued for a channel the deployment no longer has is recorded with the reason, and the conversation moves on', async () => {
    const app = await startTestApp('gone', { ...target.env, GRAPH_API_URL: graphUrl, ROLE: 'worker' });
    try {
      // As left by a version that had a Telegram channel: queued, then the channel was removed.
      const e: InboundEvent = { id: 'tg-1', kind: 'text', channel: 'telegram', account: 'bot1', user: 'u1', timestamp: Date.now(), receivedAt: Date.now(), text: 'hi' };
      const key = conversationKey(e);
      await app.queue.enqueue(key, [{ id: e.id, timestamp: e.timestamp, payload: JSON.stringify(e), queue: true }]);
      await app.queue.markReady([key]);
      const k = app.queue.keys.conversation(key);
      await waitUntil('the event taken off the queue', async () => (await app.redis.zcard(k.q)) === 0, 10_000);
      const entries = await app.redis.xrange(app.chatlog.key(app.chatlog.shardOf(e)), '-', '+');
      const record = entries.map(([, f]) => JSON.parse(f[1]!)).find((r) => r.mid === 'tg-1');
      assert.equal(record?.error, 'channel telegram is not configured');
    } finally {
      await app.stop();
    }
  });
});
