/** Worker behaviour that a user notices: crash recovery, Send API failures, fairness, draining. */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { FakeGraph } from '../../src/dev/fake-graph';
import { masters } from '../../src/queue/redis';
import { startTestApp } from '../helpers/app';
import { redisTargets } from '../helpers/env';
import { APP_SECRET, body, parseWebhook, post, text } from '../helpers/fb';
import { conversationId } from '../helpers/queue';
import { sleep, waitUntil } from '../helpers/wait';

const target = redisTargets()[0]!;

describe('worker', () => {
  const graph = new FakeGraph({ anyTokenPage: '101' });
  let graphUrl: string;
  before(async () => {
    graphUrl = await graph.listen();
  });
  after(() => graph.close());
  const repliesTo = (user: string) => graph.messagesTo(user).map((c) => c.metadata?.mid);

  test('after a crash mid-send, a reply confirmed by its echo is not sent again; an unconfirmed one is, once', async () => {
    const app = await startTestApp('crash', { ...target.env, ROLE: 'gateway', GRAPH_API_URL: graphUrl });
    try {
      // State a worker leaves when killed between "begin send" and its ack, for two events.
      const q = app.queue;
      for (const user of ['echoed', 'silent']) {
        const c = conversationId('101', user);
        await post(app.url, body([text('101', user, 1, `m-${user}`, 'hi')]));
        await q.redis.set(q.keys.conversation(c).lock, 'dead-worker', 'PX', 60_000);
        await q.beginReply(c, 'dead-worker', `m-${user}`, 0);
        await q.redis.del(q.keys.conversation(c).lock);
      }
      // Facebook's echo of the reply that did go out before the crash.
      const echo = { sender: { id: '101' }, recipient: { id: 'echoed' }, timestamp: 2, message: { is_echo: true, app_id: 1, mid: 'm-reply', text: 'You said: "hi"', metadata: JSON.stringify({ mid: 'm-echoed', i: 0 }) } };
      assert.equal((await post(app.url, body([echo]))).body.recorded, 1);
    } finally {
      await app.stop();
    }
    const worker = await startTestApp('crash', { ...target.env, ROLE: 'worker', GRAPH_API_URL: graphUrl, SEND_ECHO_GRACE_MS: '300', REDIS_PREFIX: app.prefix });
    try {
      await waitUntil('the unconfirmed reply resent', () => repliesTo('silent').length === 1, 10_000);
      await sleep(300);
      assert.deepEqual(repliesTo('echoed'), [], 'confirmed by echo: not sent again');
      assert.deepEqual(repliesTo('silent'), ['m-silent']);
      const m = await worker.metrics.registry.getSingleMetricAsString('cb_send_unconfirmed_total');
      assert.match(m, /settled="echo"\} 1/);
      assert.match(m, /settled="resent"\} 1/);
    } finally {
      await worker.stop();
    }
  });

  test('a Send API outage delays the conversation without reordering or losing; a rejected reply is recorded and skipped', async () => {
    const app = await startTestApp('fail', { ...target.env, GRAPH_API_URL: graphUrl, SEND_MAX_ATTEMPTS: '2', SEND_BACKOFF_BASE_MS: '5', SEND_RETRY_LATER_MS: '200' });
    try {
      graph.failNext(5, { kind: 'error', status: 500, code: 2 });
      await post(app.url, body([text('101', 'flaky', 1, 'f1', 'one'), text('101', 'flaky', 2, 'f2', 'two'), text('101', 'flaky', 3, 'f3', 'three')]));
      await waitUntil('all answered after the outage', () => repliesTo('flaky').length === 3, 15_000);
      assert.deepEqual(repliesTo('flaky'), ['f1', 'f2', 'f3']);

      const sends = async () => (await app.metrics.sends.get()).values[0]!.value;
      const before = await sends();
      graph.failNext(1, { kind: 'error', status: 400, code: 551 });
      await post(app.url, body([text('101', 'gone', 1, 'g1', 'one'), text('101', 'gone', 2, 'g2', 'two')]));
      await waitUntil('the next message answered', () => repliesTo('gone').length === 1, 10_000);
      assert.deepEqual(repliesTo('gone'), ['g2']);
      assert.match(await app.metrics.registry.getSingleMetricAsString('cb_send_errors_total'), /code="551"\} 1/);
      // The alerts' error rate: 1 of the 2 replies handed to the Send API failed.
      assert.equal((await sends()) - before, 2);
    } finally {
      await app.stop();
    }
  });

  test('a reply whose marks were lost (failed-over Redis) but whose echo arrived is not sent again', async () => {
    const app = await startTestApp('lostmarks', { ...target.env, ROLE: 'gateway', GRAPH_API_URL: graphUrl });
    try {
      await post(app.url, body([text('101', 'lostmarks', 1, 'm-lost', 'hi'), text('101', 'lostmarks', 2, 'm-next', 'again')]));
      // No pending mark, no ack: only Facebook's echo says the first reply went out.
      const echo = { sender: { id: '101' }, recipient: { id: 'lostmarks' }, timestamp: 3, message: { is_echo: true, app_id: 1, mid: 'm-echo-lost', text: 'You said: "hi"', metadata: JSON.stringify({ mid: 'm-lost', i: 0 }) } };
      assert.equal((await post(app.url, body([echo]))).body.recorded, 1);
    } finally {
      await app.stop();
    }
    const worker = await startTestApp('lostmarks', { ...target.env, ROLE: 'worker', GRAPH_API_URL: graphUrl, REDIS_PREFIX: app.prefix });
    try {
      await waitUntil('the next message answered', () => repliesTo('lostmarks').length >= 1, 10_000);
      await sleep(300);
      assert.deepEqual(repliesTo('lostmarks'), ['m-next'], 'the echoed reply was not sent again');
      assert.match(await worker.metrics.registry.getSingleMetricAsString('cb_send_unconfirmed_total'), /settled="echo"\} 1/);
    } finally {
      await worker.stop();
    }
  });

  test('a Send API timeout is settled by the echo: delivered once, whether or not Facebook got the first try', async () => {
    const echoing = new FakeGraph({ anyTokenPage: '101' });
    const url = await echoing.listen();
    const app = await startTestApp('uncertain', { ...target.env, GRAPH_API_URL: url, SEND_TIMEOUT_MS: '300', SEND_ECHO_GRACE_MS: '500' });
    echoing.setEcho({ webhookUrl: `${app.url}/webhook`, appSecret: APP_SECRET });
    try {
      // First reply: Facebook delivers it but the answer is lost. Second: the request never gets an answer.
      echoing.failNext(1, { kind: 'lose-response' });
      echoing.failNext(1, { kind: 'timeout' });
      await post(app.url, body([text('101', 'slow', 1, 's1', 'one'), text('101', 'slow', 2, 's2', 'two'), text('101', 'slow', 3, 's3', 'three')]));
      await waitUntil('all answered', () => echoing.messagesTo('slow').length >= 3, 15_000);
      await sleep(1_000);
      assert.deepEqual(
        echoing.messagesTo('slow').map((c) => c.metadata?.mid),
        ['s1', 's2', 's3'],
      );
      const m = await app.metrics.registry.getSingleMetricAsString('cb_send_unconfirmed_total');
      assert.match(m, /settled="echo"\} 1/, 'the delivered one was confirmed by its echo');
      assert.match(m, /settled="resent"\} 1/, 'the unanswered one was sent again, once');
    } finally {
      await app.stop();
      await echoing.close();
    }
  });

  test('echoes, receipts and standby events are recorded but never answered', async () => {
    const app = await startTestApp('quiet', { ...target.env, GRAPH_API_URL: graphUrl });
    try {
      const events = [
        { sender: { id: 'quiet' }, recipient: { id: '101' }, timestamp: 1, delivery: { mids: ['x'], watermark: 1 } },
        { sender: { id: 'quiet' }, recipient: { id: '101' }, timestamp: 2, read: { watermark: 2 } },
        { sender: { id: '101' }, recipient: { id: 'quiet' }, timestamp: 3, message: { is_echo: true, app_id: 5, mid: 'inbox-1', text: 'from the page inbox' } },
        { sender: { id: 'quiet' }, recipient: { id: '101' }, timestamp: 4, reaction: { reaction: 'like', action: 'react', mid: 'x' } },
        text('101', 'quiet', 5, 'q-last', 'answer me'),
      ];
      assert.equal(parseWebhook(body(events)).events.length, 5);
      const r = await post(app.url, body(events));
      assert.equal(r.body.queued, 5);
      await waitUntil('the text answered', () => repliesTo('quiet').length === 1, 10_000);
      await sleep(200);
      assert.deepEqual(repliesTo('quiet'), ['q-last']);
      const processed = await app.metrics.registry.getSingleMetricAsString('cb_events_processed_total');
      for (const kind of ['delivery', 'read', 'echo', 'reaction', 'text']) assert.match(processed, new RegExp(`kind="${kind}"\\} 1`), kind);
    } finally {
      await app.stop();
    }
  });

  test('fairness: a user with 300 queued messages does not hold up another user', async () => {
    const app = await startTestApp('fair', { ...target.env, ROLE: 'gateway', GRAPH_API_URL: graphUrl });
    await post(app.url, body(Array.from({ length: 300 }, (_, i) => text('101', 'chatty', i + 1, `c${i}`, `msg ${i}`))));
    await post(app.url, body([text('101', 'calm', 1, 'calm-1', 'hello')]));
    await app.stop();
    const worker = await startTestApp('fair', { ...target.env, ROLE: 'worker', GRAPH_API_URL: graphUrl, WORKER_CONCURRENCY: '1', WORKER_BATCH: '10', REDIS_PREFIX: app.prefix });
    try {
      await waitUntil('calm answered', () => repliesTo('calm').length === 1, 20_000);
      const order = graph.messages.map((c) => c.recipientId).filter((u) => u === 'chatty' || u === 'calm');
      const chattyBefore = order.indexOf('calm');
      assert.ok(chattyBefore <= 20, `calm waited for only one batch of chatty, not ${chattyBefore} replies`);
      await waitUntil('chatty answered', () => repliesTo('chatty').length === 300, 30_000);
      assert.deepEqual(
        repliesTo('chatty'),
        Array.from({ length: 300 }, (_, i) => `c${i}`),
      );
    } finally {
      await worker.stop();
    }
  });

  test('SIGTERM-style drain: in-flight events finish, locks are released, the rest waits for the next worker', async () => {
    graph.latencyMs = 100;
    const app = await startTestApp('drain', { ...target.env, GRAPH_API_URL: graphUrl, WORKER_BATCH: '100' });
    try {
      await post(app.url, body(Array.from({ length: 30 }, (_, i) => text('101', 'drain', i + 1, `d${i}`, `msg ${i}`))));
      await waitUntil('a few answered', () => repliesTo('drain').length >= 3, 10_000);
    } finally {
      await app.stop();
    }
    const answered = repliesTo('drain').length;
    assert.ok(answered < 30, 'stopped before the end');
    const redis = await startTestApp('drain-check', { ...target.env, ROLE: 'gateway', REDIS_PREFIX: app.prefix });
    try {
      const locks = (await Promise.all(masters(redis.redis).map((m) => m.keys(`${app.prefix}:{*}:lock`)))).flat();
      assert.deepEqual(locks, [], 'no lock left behind');
      assert.equal(await redis.redis.zcard(redis.queue.keys.conversation('101:drain').q), 30 - answered, 'the rest is still queued');
    } finally {
      await redis.stop();
    }
    graph.latencyMs = 0;
    const next = await startTestApp('drain2', { ...target.env, ROLE: 'worker', GRAPH_API_URL: graphUrl, REDIS_PREFIX: app.prefix });
    try {
      await waitUntil('the rest answered by the next worker', () => repliesTo('drain').length === 30, 15_000);
      assert.deepEqual(
        repliesTo('drain'),
        Array.from({ length: 30 }, (_, i) => `d${i}`),
      );
    } finally {
      await next.stop();
    }
  });
});
