/**
 * Exactly once on Instagram, whose echo carries no metadata: a reply half-sent when its worker
 * died is confirmed by an echo of its content that arrived after it was marked, never by the
 * late echo of an earlier identical reply; unconfirmed, it is sent again, once.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { conversationKey } from '../../src/channels/conversation';
import { sentKey } from '../../src/channels/instagram/confirm';
import { FakeGraph } from '../../src/dev/fake-graph';
import { startTestApp } from '../helpers/app';
import { redisTargets, tmpDir } from '../helpers/env';
import { APP_SECRET, post } from '../helpers/fb';
import { channelsFile, fakeInstagramOn, IG_ACCOUNTS, igBody, igEcho, igText } from '../helpers/instagram';
import { sleep, waitUntil } from '../helpers/wait';

const IG = IG_ACCOUNTS[0]!;

for (const target of redisTargets()) {
  describe(`Instagram confirmation on ${target.name} redis`, () => {
    const graph = new FakeGraph();
    fakeInstagramOn(graph);
    let graphUrl: string;
    let channels: string;
    before(async () => {
      graphUrl = await graph.listen();
      channels = channelsFile(tmpDir('ig-confirm'));
    });
    after(() => graph.close());
    const repliesTo = (user: string) => graph.messagesTo(user).map((c) => c.text);

    test('after a crash mid-send: confirmed by a later echo of its content, not sent again; unconfirmed, or "confirmed" only by an earlier identical reply\'s late echo, sent again once', async () => {
      const env = { ...target.env, CHANNELS_FILE: channels, GRAPH_API_URL: graphUrl };
      const app = await startTestApp('igcrash', { ...env, ROLE: 'gateway' });
      const reply = 'You said: "hi"';
      const key = sentKey({ text: reply })!;
      try {
        // The state a worker leaves when killed between "begin send" and its ack.
        const q = app.queue;
        for (const user of ['echoed', 'silent', 'stale']) {
          const c = conversationKey({ channel: 'instagram', account: IG, user });
          assert.equal((await post(app.url, igBody([igText(IG, user, 1, `m-${user}`, 'hi')]))).body.queued, 1);
          await q.redis.set(q.keys.conversation(c).lock, 'dead-worker', 'PX', 60_000);
          if (user === 'stale') {
            // An earlier "hi" was answered with the same text; its echo is still on its way.
            await q.beginReply(c, 'dead-worker', 'm-earlier', 0, key);
            await q.replyDone(c, 'm-earlier', 0);
          }
          await q.beginReply(c, 'dead-worker', `m-${user}`, 0, key);
          await q.redis.del(q.keys.conversation(c).lock);
        }
        // Instagram's echoes: of the reply that did go out, and the late one of the earlier reply.
        assert.equal((await post(app.url, igBody([igEcho(IG, 'echoed', 2, 'm-sent-echoed', reply)]))).body.queued, 1, 'an echo is queued for the record');
        await post(app.url, igBody([igEcho(IG, 'stale', 2, 'm-sent-earlier', reply)]));
      } finally {
        await app.stop();
      }
      const worker = await startTestApp('igcrash', { ...env, ROLE: 'worker', SEND_ECHO_GRACE_MS: '300', REDIS_PREFIX: app.prefix });
      try {
        await waitUntil('the unconfirmed replies sent again', () => repliesTo('silent').length === 1 && repliesTo('stale').length === 1, 10_000);
        await sleep(500);
        assert.deepEqual(repliesTo('echoed'), [], 'confirmed by its echo: not sent again');
        assert.deepEqual(repliesTo('silent'), [reply], 'no echo: sent again, once');
        assert.deepEqual(repliesTo('stale'), [reply], "the earlier reply's echo was owed to it: sent again, once");
        const m = await worker.metrics.registry.getSingleMetricAsString('cb_send_unconfirmed_total');
        assert.match(m, /settled="echo"\} 1/);
        assert.match(m, /settled="resent"\} 2/);
        // Nothing owed is left behind: each key's count is back to zero and deleted.
        const c = conversationKey({ channel: 'instagram', account: IG, user: 'echoed' });
        assert.equal(await worker.queue.redis.hget(worker.queue.keys.conversation(c).sent, `k:${key}`), null);
      } finally {
        await worker.stop();
      }
    });

    test("a Send API timeout is settled by Instagram's echo: delivered once, whether or not Instagram got the first try", async () => {
      const echoing = new FakeGraph();
      fakeInstagramOn(echoing);
      const url = await echoing.listen();
      const app = await startTestApp('igslow', { ...target.env, CHANNELS_FILE: channels, GRAPH_API_URL: url, SEND_TIMEOUT_MS: '300', SEND_ECHO_GRACE_MS: '500' });
      echoing.setEcho({ webhookUrl: `${app.url}/webhook`, appSecret: APP_SECRET });
      try {
        // First reply: Instagram delivers it but the answer is lost. Second: the request never gets an answer.
        echoing.failNext(1, { kind: 'lose-response' });
        echoing.failNext(1, { kind: 'timeout' });
        await post(app.url, igBody([igText(IG, 'slow', 1, 's1', 'one'), igText(IG, 'slow', 2, 's2', 'two'), igText(IG, 'slow', 3, 's3', 'three')]));
        await waitUntil('all answered', () => echoing.messagesTo('slow').length >= 3, 15_000);
        await sleep(1_000);
        assert.deepEqual(
          echoing.messagesTo('slow').map((c) => c.text),
          ['You said: "one"', 'You said: "two"', 'You said: "three"'],
        );
        const m = await app.metrics.registry.getSingleMetricAsString('cb_send_unconfirmed_total');
        assert.match(m, /settled="echo"\} 1/, 'the delivered one was confirmed by its echo');
        assert.match(m, /settled="resent"\} 1/, 'the unanswered one was sent again, once');
      } finally {
        await app.stop();
        await echoing.close();
      }
    });
  });
}
