/**
 * WhatsApp through a real gateway and worker and the Cloud API fake: exactly once through a
 * crash mid-send (confirmed by the message's status, or sent again once), read receipts, and
 * the Cloud API's errors acted on as WhatsApp means them.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { conversationKey } from '../../src/channels/conversation';
import { FakeGraph } from '../../src/dev/fake-graph';
import { startTestApp } from '../helpers/app';
import { redisTargets } from '../helpers/env';
import { APP_SECRET } from '../helpers/fb';
import { postWa, WA_NUMBERS, waBody, waChange, waChannelsFile, waFake, waStatus, waText } from '../helpers/whatsapp';
import { sleep, waitUntil } from '../helpers/wait';

const target = redisTargets()[0]!;
const PHONE = WA_NUMBERS[0]!;
/** What the gateway and workers appended to the chatlog stream for one conversation, in order. */
async function records(app: Awaited<ReturnType<typeof startTestApp>>, user: string): Promise<Record<string, unknown>[]> {
  const c = { channel: 'whatsapp', account: PHONE, user };
  const entries = await app.chatlog.redis.xrange(app.chatlog.key(app.chatlog.shardOf(c)), '-', '+');
  return entries.map(([, fields]) => JSON.parse(fields[1]!) as Record<string, unknown>).filter((r) => r.user === user);
}
const text = (user: string, wamid: string, ts: number, body = 'hi') => waBody(waChange(PHONE, { messages: [waText(user, wamid, ts, body)], names: { [user]: 'Test user' } }));

describe('whatsapp worker', () => {
  const graph = new FakeGraph({ anyTokenPage: '101' });
  const wa = waFake();
  graph.mount(wa.router());
  let graphUrl: string;
  const channels = () => waChannelsFile('wa-worker');
  before(async () => {
    graphUrl = await graph.listen();
  });
  after(async () => {
    await graph.close();
    await wa.close();
  });
  const repliesTo = (user: string) => wa.messagesTo(user).map((m) => m.token?.mid);

  test('after a crash mid-send, a reply confirmed by its status (sent, or only delivered) is not sent again; an unconfirmed one is, once', async () => {
    const file = channels();
    const users = { sent: '15550001001', delivered: '15550001002', silent: '15550001003' };
    const app = await startTestApp('wa-crash', { ...target.env, ROLE: 'gateway', GRAPH_API_URL: graphUrl, CHANNELS_FILE: file });
    try {
      // State a worker leaves when killed between "begin send" and its ack.
      const q = app.queue;
      for (const user of Object.values(users)) {
        const c = conversationKey({ channel: 'whatsapp', account: PHONE, user });
        assert.equal((await postWa(app.url, text(user, `wamid.in${user}`, 1))).body.queued, 1);
        await q.redis.set(q.keys.conversation(c).lock, 'dead-worker', 'PX', 60_000);
        await q.beginReply(c, 'dead-worker', `wamid.in${user}`, 0);
        await q.redis.del(q.keys.conversation(c).lock);
      }
      // WhatsApp's statuses of the replies that went out before the crash.
      const token = (user: string) => JSON.stringify({ mid: `wamid.in${user}`, i: 0 });
      const sent = await postWa(app.url, waBody(waChange(PHONE, { statuses: [waStatus(users.sent, 'wamid.out1', 'sent', 2, token(users.sent))] })));
      assert.equal(sent.body.recorded, 1, 'a sent status confirms and records; nothing for a worker to do');
      const delivered = await postWa(app.url, waBody(waChange(PHONE, { statuses: [waStatus(users.delivered, 'wamid.out2', 'delivered', 2, token(users.delivered))] })));
      assert.equal(delivered.body.recorded, 1, 'a delivered status confirms too');
      // The gateway records the confirmed reply's row, then the receipt for it: no worker needed.
      assert.deepEqual(
        (await records(app, users.delivered)).map((r) => [r.t, r.mid ?? r.mids, r.kind]),
        [
          ['msg', 'wamid.out2', 'text'],
          ['receipt', ['wamid.out2'], 'delivery'],
        ],
      );
    } finally {
      await app.stop();
    }
    const worker = await startTestApp('wa-crash', { ...target.env, ROLE: 'worker', GRAPH_API_URL: graphUrl, CHANNELS_FILE: file, SEND_ECHO_GRACE_MS: '300', REDIS_PREFIX: app.prefix });
    try {
      await waitUntil('the unconfirmed reply resent', () => repliesTo(users.silent).length === 1, 10_000);
      await sleep(400);
      assert.deepEqual(repliesTo(users.sent), [], 'confirmed by its sent status: not sent again');
      assert.deepEqual(repliesTo(users.delivered), [], 'confirmed by its delivered status: not sent again');
      assert.deepEqual(repliesTo(users.silent), [`wamid.in${users.silent}`]);
      const m = await worker.metrics.registry.getSingleMetricAsString('cb_send_unconfirmed_total');
      assert.match(m, /settled="echo"\} 2/);
      assert.match(m, /settled="resent"\} 1/);
    } finally {
      await worker.stop();
    }
  });

  test('a reply goes out with our callback data, the user’s message is marked read, and the statuses come back and are recorded', async () => {
    const app = await startTestApp('wa-flow', { ...target.env, GRAPH_API_URL: graphUrl, CHANNELS_FILE: channels() });
    wa.setWebhook({ url: `${app.url}/webhook`, appSecret: APP_SECRET });
    try {
      const user = '15550002001';
      assert.equal((await postWa(app.url, text(user, 'wamid.flow1', 1, 'hello there'))).body.queued, 1);
      await waitUntil('answered and its statuses acknowledged', () => wa.messagesTo(user)[0]?.statuses.length === 2, 10_000);
      const [m] = wa.messagesTo(user);
      assert.deepEqual(m!.token, { mid: 'wamid.flow1', i: 0 });
      assert.deepEqual([m!.type, m!.text, m!.body.recipient_type, m!.body.to], ['text', 'You said: "hello there"', 'individual', user]);
      assert.deepEqual(m!.statuses, ['sent', 'delivered']);
      assert.ok(
        wa.reads.some((r) => r.messageId === 'wamid.flow1' && r.phoneNumberId === PHONE),
        'the user sees two blue ticks',
      );
      const events = await app.metrics.registry.getSingleMetricAsString('cb_webhook_events_total');
      assert.match(events, /channel="whatsapp",kind="echo",outcome="recorded"\} 1/);
      assert.match(events, /channel="whatsapp",kind="delivery",outcome="recorded"\} 1/);
      // One row for the reply (the worker's record and each status' confirmation share the wamid), and its receipt.
      await waitUntil('the reply’s records', async () => (await records(app, user)).filter((r) => r.direction === 'out').length === 3, 5_000);
      const log = await records(app, user);
      const out = log.filter((r) => r.direction === 'out');
      assert.deepEqual([out.length, [...new Set(out.map((r) => r.mid))]], [3, [m!.wamid]]);
      assert.deepEqual(
        out.filter((r) => r.author === 'bot').map((r) => r.text),
        ['You said: "hello there"'],
        'the worker’s record carries the text',
      );
      assert.deepEqual(
        log.filter((r) => r.t === 'receipt').map((r) => [r.kind, r.mids]),
        [['delivery', [m!.wamid]]],
      );
      assert.equal(wa.messagesTo(user).length, 1, 'a status is never answered');
    } finally {
      wa.setWebhook(undefined);
      await app.stop();
    }
  });

  test('Cloud API errors: a pair rate limit (131056) delays the reply; outside the window (131047) or undeliverable (131026) it is recorded as failed and never retried', async () => {
    const app = await startTestApp('wa-errors', { ...target.env, GRAPH_API_URL: graphUrl, CHANNELS_FILE: channels(), SEND_MAX_ATTEMPTS: '2', SEND_BACKOFF_BASE_MS: '5', SEND_RETRY_LATER_MS: '200' });
    try {
      const limited = '15550003001';
      wa.failNext(3, { kind: 'error', status: 400, code: 131056, message: '(#131056) (Business Account, Consumer Account) pair rate limit hit' });
      await postWa(app.url, waBody(waChange(PHONE, { messages: [waText(limited, 'wamid.r1', 1, 'one'), waText(limited, 'wamid.r2', 2, 'two')] })));
      await waitUntil('both answered after the limit', () => repliesTo(limited).length === 2, 10_000);
      assert.deepEqual(repliesTo(limited), ['wamid.r1', 'wamid.r2']);

      const closed = '15550003002';
      wa.failNext(1, { kind: 'error', status: 400, code: 131047, message: '(#131047) Re-engagement message' });
      wa.failNext(1, { kind: 'error', status: 400, code: 131026, message: '(#131026) Message Undeliverable' });
      await postWa(app.url, waBody(waChange(PHONE, { messages: [waText(closed, 'wamid.c1', 1, 'one'), waText(closed, 'wamid.c2', 2, 'two'), waText(closed, 'wamid.c3', 3, 'three')] })));
      await waitUntil('the third answered', () => repliesTo(closed).length === 1, 10_000);
      await sleep(300);
      assert.deepEqual(repliesTo(closed), ['wamid.c3'], 'the refused ones were not retried');
      const errors = await app.metrics.registry.getSingleMetricAsString('cb_send_errors_total');
      assert.match(errors, /channel="whatsapp",code="131047"\} 1/);
      assert.match(errors, /channel="whatsapp",code="131026"\} 1/);
      assert.match(errors, /channel="whatsapp",code="131056"\} [1-9]/);
    } finally {
      await app.stop();
    }
  });

  test('a send whose answer was lost is settled by its status; one that got no answer at all is sent again, once', async () => {
    const app = await startTestApp('wa-uncertain', { ...target.env, GRAPH_API_URL: graphUrl, CHANNELS_FILE: channels(), SEND_TIMEOUT_MS: '300', SEND_ECHO_GRACE_MS: '600' });
    wa.setWebhook({ url: `${app.url}/webhook`, appSecret: APP_SECRET });
    try {
      const user = '15550004001';
      wa.failNext(1, { kind: 'lose-response' });
      wa.failNext(1, { kind: 'timeout' });
      await postWa(app.url, waBody(waChange(PHONE, { messages: [waText(user, 'wamid.s1', 1, 'one'), waText(user, 'wamid.s2', 2, 'two'), waText(user, 'wamid.s3', 3, 'three')] })));
      await waitUntil('all answered', () => repliesTo(user).length >= 3, 15_000);
      await sleep(1_000);
      assert.deepEqual(repliesTo(user), ['wamid.s1', 'wamid.s2', 'wamid.s3']);
      const m = await app.metrics.registry.getSingleMetricAsString('cb_send_unconfirmed_total');
      assert.match(m, /settled="echo"\} 1/, 'the delivered one was confirmed by its status');
      assert.match(m, /settled="resent"\} 1/, 'the unanswered one was sent again, once');
    } finally {
      wa.setWebhook(undefined);
      await app.stop();
    }
  });

  test('messages to a number this deployment does not serve are counted, not queued', async () => {
    const app = await startTestApp('wa-foreign', { ...target.env, ROLE: 'gateway', CHANNELS_FILE: channels() });
    try {
      const r = await postWa(app.url, waBody(waChange('999000111', { messages: [waText('15550005001', 'wamid.f1', 1, 'hi')] })));
      assert.deepEqual([r.status, r.body.queued, r.body.ignored], [200, 0, 1]);
    } finally {
      await app.stop();
    }
  });
});
