/**
 * Web chat's promises end to end: two gateways behind a TCP balancer and two workers, all
 * separate processes, on standalone Redis and on a cluster; widgets (the widget's own client)
 * chatting through it. What each widget displays is audited: every message and reply once, in
 * order, through resends, cut sockets, a worker SIGKILLed and a gateway SIGKILLed mid-run.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { WebchatChannel } from '../../src/channels/webchat/channel';
import { Notifier } from '../../src/channels/webchat/notify';
import { renderWebchat } from '../../src/channels/webchat/render';
import { WebchatStore } from '../../src/channels/webchat/store';
import { conversationKey } from '../../src/channels/conversation';
import type { InboundEvent } from '../../src/channels/event';
import { createLogger } from '../../src/log';
import { startTestApp } from '../helpers/app';
import { redisTargets } from '../helpers/env';
import { audit } from '../helpers/pipeline';
import { sleep, waitUntil } from '../helpers/wait';
import { auditShown, channelsFile, SITE } from '../helpers/webchat';
import { allAnswered, chatLoad, expectedOf, startWebchatPipeline, webchatDriver, type WebchatPipeline } from '../helpers/webchat-load';
import { nodeWidget } from '../../src/dev/fake-webchat';

for (const target of redisTargets()) {
  describe(`web chat pipeline on ${target.name} redis`, { timeout: 300_000 }, () => {
    const running: WebchatPipeline[] = [];
    after(async () => {
      await Promise.all(running.map((p) => p.stop()));
    });

    test('200 visitors × 10 messages, 10% sent twice, 5% of sockets cut, a worker and a gateway SIGKILLed: every message and reply shown once, in order', async () => {
      const p = await startWebchatPipeline(`wcload-${target.name}`, target.env);
      running.push(p);
      const killed: string[] = [];
      const load = await chatLoad(p.url, {
        visitors: 200,
        perVisitor: 10,
        redeliver: 0.1,
        cut: 0.05,
        onRound: async (k) => {
          if (k === 3) {
            await p.workers[0]!.kill('SIGKILL');
            killed.push('worker1');
          }
          if (k === 6) {
            await p.gateways[0]!.kill('SIGKILL');
            killed.push('gateway1');
          }
        },
      });
      assert.deepEqual(killed, ['worker1', 'gateway1']);
      assert.ok(load.redelivered > 100, `messages sent twice: ${load.redelivered}`);
      await allAnswered(load);
      await sleep(1_000); // a late duplicate would show up now
      const shown = load.chatters.map((c) => auditShown(c.widget.entries, c.sent));
      assert.deepEqual(shown.filter((a) => a.lost || a.duplicates || a.outOfOrder).slice(0, 3), []);
      assert.deepEqual(audit(webchatDriver(load.chatters), expectedOf(load.chatters)), { violations: [], duplicates: 0, lost: 0, outOfOrder: 0 });
      // Every widget reconnected to the gateway left alive; a reload there shows exactly what was shown live.
      const sample = load.chatters.slice(0, 20);
      for (const c of sample) {
        const again = nodeWidget({ baseUrl: p.url, site: SITE, origin: 'https://shop.example', tokenStore: (c.widget as unknown as { tokens: Map<string, string> }).tokens });
        again.connect();
        await waitUntil('history', () => again.entries.length === c.widget.entries.length, 15_000);
        assert.deepEqual(again.entries, c.widget.entries);
        again.stop();
      }
      for (const c of load.chatters) c.widget.stop();
      assert.equal(p.gateways[1]!.child.exitCode, null, 'the other gateway carried on');
    });
  });
}

describe('web chat: a worker killed mid-send', () => {
  const target = redisTargets()[0]!;

  test('after a crash mid-send, a reply already in the outbox is not shown twice; one that was not is sent, once', async () => {
    const channels = channelsFile('wckill');
    const gw = await startTestApp('wckill', { ...target.env, ROLE: 'gateway', CHANNELS_FILE: channels });
    let prefix = gw.prefix;
    const visitors: Record<string, ReturnType<typeof nodeWidget>> = {};
    try {
      const logger = createLogger('silent');
      const channel = new WebchatChannel({ store: new WebchatStore(gw.redis, gw.prefix, 48 * 3_600_000), notifier: new Notifier(new Map(), logger, () => undefined), logger, metrics: gw.metrics });
      for (const name of ['delivered', 'silent']) {
        const w = (visitors[name] = nodeWidget({ baseUrl: gw.url, site: SITE, origin: 'https://shop.example' }));
        w.connect();
        await waitUntil('online', () => w.status === 'online');
        const cid = w.send(`hi from ${name}`)!;
        await waitUntil('queued', () => w.delivered?.[cid] === true);
        // The state a worker leaves when killed between "begin send" and its ack…
        const c = conversationKey({ channel: 'webchat', account: SITE, user: w.visitor! });
        const q = gw.queue;
        const eventId = `${w.visitor}.${cid}`;
        await q.redis.set(q.keys.conversation(c).lock, 'dead-worker', 'PX', 60_000);
        await q.beginReply(c, 'dead-worker', eventId, 0);
        await q.redis.del(q.keys.conversation(c).lock);
        if (name === 'delivered') {
          // …after its reply reached the outbox (the visitor saw it), for one of them.
          const about: InboundEvent = { id: eventId, mid: cid, kind: 'text', channel: 'webchat', account: SITE, user: w.visitor!, timestamp: Date.now(), text: `hi from ${name}`, receivedAt: Date.now() };
          const [m] = renderWebchat([{ text: `You said: "hi from ${name}"` }]).messages;
          await channel.send(m!, { to: { channel: 'webchat', account: SITE, user: w.visitor! }, ref: { event: eventId, index: 0 }, token: '', idempotencyKey: `${eventId}#0`, author: 'bot', about });
          await waitUntil('the reply shown', () => w.entries.some((x) => x.e.f === 'bot'));
        }
      }
    } finally {
      prefix = gw.prefix;
    }
    const worker = await startTestApp('wckill', { ...target.env, ROLE: 'worker', CHANNELS_FILE: channels, REDIS_PREFIX: prefix });
    try {
      await waitUntil('the silent one answered', () => visitors.silent!.entries.some((x) => x.e.f === 'bot'), 15_000);
      await sleep(500);
      for (const w of Object.values(visitors)) {
        assert.deepEqual(
          w.entries.map((x) => x.e.f),
          ['visitor', 'bot'],
          'one reply each',
        );
        assert.deepEqual(auditShown(w.entries, [w.entries[0]!.e.cid!]), { lost: 0, duplicates: 0, outOfOrder: 0, problems: [] });
      }
      assert.match(await worker.metrics.registry.getSingleMetricAsString('cb_send_unconfirmed_total'), /settled="resent"\} 2/, 'both half-sent replies were sent again (the channel is idempotent)');
      const outbox = await worker.metrics.registry.getSingleMetricAsString('cb_webchat_outbox_total');
      assert.match(outbox, /result="duplicate"\} 1/, 'the outbox dropped the one it had');
      assert.match(outbox, /result="appended"\} 1/);
    } finally {
      for (const w of Object.values(visitors)) w.stop();
      await worker.stop();
      await gw.stop();
    }
  });
});
