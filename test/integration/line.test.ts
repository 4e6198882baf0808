/**
 * LINE end to end inside one process (real Redis, real HTTP, the LINE fake): what a LINE user
 * notices — answers through the push API, once, through crashes mid-send, lost answers and
 * LINE's errors — and what the gateway does with what it does not answer.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { LineApi } from '../../src/channels/line/api';
import { renderLine } from '../../src/channels/line/render';
import { lineRetryKey } from '../../src/channels/line/retry-key';
import { conversationKey } from '../../src/channels/conversation';
import { FakeLine } from '../../src/dev/fake-line';
import type { BotHandler } from '../../src/bot/handler';
import { startTestApp } from '../helpers/app';
import { redisTargets, tmpDir } from '../helpers/env';
import { fixtures, LINE_BOT, LINE_CHANNELS, lineBody, lineChannelsFile, lineUser, postLine } from '../helpers/line';
import { sleep, waitUntil } from '../helpers/wait';

const target = redisTargets()[0]!;
const BOT = LINE_BOT;
const TOKEN = LINE_CHANNELS[0]!.accessToken;

describe('LINE', () => {
  const fake = new FakeLine({ channels: LINE_CHANNELS });
  let env: Record<string, string>;
  before(async () => {
    env = { ...target.env, CHANNELS_FILE: lineChannelsFile(tmpDir('line')), LINE_API_URL: await fake.listen() };
  });
  after(() => fake.close());
  const texts = (name: string) => fake.textsTo(lineUser(name));
  const metric = async (app: { metrics: { registry: { getSingleMetricAsString(n: string): Promise<string> } } }, name: string) => app.metrics.registry.getSingleMetricAsString(name);

  test("a user's messages are answered in order through the push API, each push with its retry key; a redelivered POST is dropped and counted", async () => {
    const app = await startTestApp('line-basic', env);
    try {
      const u = lineUser('basic');
      const first = lineBody([fixtures.text(u, 1, 'b-1', 'one'), fixtures.text(u, 2, 'b-2', 'two')]);
      assert.deepEqual((await postLine(app.url, first)).body, { status: 'EVENT_RECEIVED', queued: 2, duplicates: 0, recorded: 0, overflow: 0, refused: 0, ignored: 0 });
      const again = lineBody([{ ...fixtures.text(u, 2, 'b-2', 'two'), deliveryContext: { isRedelivery: true } }]);
      assert.equal((await postLine(app.url, again)).body.duplicates, 1);
      await postLine(app.url, lineBody([fixtures.text(u, 3, 'b-3', 'three')]));
      await waitUntil('three answers', () => texts('basic').length >= 3, 10_000);
      await sleep(200);
      assert.deepEqual(texts('basic'), ['You said: "one"', 'You said: "two"', 'You said: "three"']);
      assert.deepEqual(
        fake.pushesTo(u).map((p) => p.retryKey),
        ['b-1', 'b-2', 'b-3'].map((id) => lineRetryKey(BOT, `${id}#0`)),
      );
      assert.match(await metric(app, 'cb_webhook_redeliveries_total'), /channel="line"\} 1/);
      assert.match(await metric(app, 'cb_duplicates_total'), /channel="line"\} 1/);
    } finally {
      await app.stop();
    }
  });

  test("unknown destination and bad signature are 403, the console's Verify is 200; group chats and follows are not answered", async () => {
    const app = await startTestApp('line-edges', env);
    try {
      const stranger = lineBody([fixtures.text(lineUser('x'), 1, 's-1', 'hi')], `U${'0'.repeat(32)}`);
      const refused = await postLine(app.url, stranger);
      assert.equal(refused.status, 403);
      assert.match(refused.body.error, /is not a LINE channel this deployment serves/);
      assert.equal((await postLine(app.url, lineBody([fixtures.text(lineUser('x'), 1, 's-2', 'hi')]), { signature: 'AAAA' })).status, 403);
      assert.equal((await postLine(app.url, lineBody([]))).status, 200, 'Verify');
      const u = lineUser('edges');
      const group = `C${'a'.repeat(32)}`;
      const r = await postLine(app.url, lineBody([fixtures.join(group, 1, 'g-j'), fixtures.groupText(group, u, 2, 'g-t', 'hello group'), fixtures.follow(u, 3, 'g-f'), fixtures.text(u, 4, 'g-x', 'answer me')]));
      assert.equal(r.status, 200);
      assert.equal(r.body.queued, 2, 'the follow (recorded) and the one-on-one message');
      await waitUntil('the one-on-one message answered', () => texts('edges').length >= 1, 10_000);
      await sleep(200);
      assert.deepEqual(texts('edges'), ['You said: "answer me"']);
      assert.equal(fake.pushes.filter((p) => p.to === group).length, 0, 'nothing pushed to the group');
      const events = await metric(app, 'cb_webhook_events_total');
      assert.match(events, /channel="line",kind="join",outcome="unsupported_group"\} 1/);
      assert.match(events, /channel="line",kind="message",outcome="unsupported_group"\} 1/);
      assert.match(await metric(app, 'cb_events_processed_total'), /channel="line",kind="optin"\} 1/);
    } finally {
      await app.stop();
    }
  });

  test('after a crash mid-send, a push LINE had accepted is resent with the same key, answered 409, and seen once; an unaccepted one is sent once', async () => {
    const gw = await startTestApp('line-crash', { ...env, ROLE: 'gateway' });
    const [sent, silent] = [lineUser('crash-sent'), lineUser('crash-silent')];
    try {
      // The state a worker leaves when killed between "begin send" and its record, for two events.
      for (const [u, id] of [
        [sent, 'c-sent'],
        [silent, 'c-silent'],
      ] as const) {
        const c = conversationKey({ channel: 'line', account: BOT, user: u });
        await postLine(gw.url, lineBody([fixtures.text(u, 1, id, 'hi')]));
        await gw.queue.redis.set(gw.queue.keys.conversation(c).lock, 'dead-worker', 'PX', 60_000);
        await gw.queue.beginReply(c, 'dead-worker', id, 0);
        await gw.queue.redis.del(gw.queue.keys.conversation(c).lock);
      }
      // What the dead worker had pushed for the first one before it died: LINE accepted it.
      const api = new LineApi({ baseUrl: env.LINE_API_URL!, timeoutMs: 2_000, maxAttempts: 1, backoffBaseMs: 1, backoffMaxMs: 1 });
      await api.push(TOKEN, renderLine([{ text: 'You said: "hi"' }]).messages[0]!.body, lineRetryKey(BOT, 'c-sent#0'), { account: BOT, user: sent });
      api.close();
    } finally {
      await gw.stop();
    }
    const worker = await startTestApp('line-crash', { ...env, ROLE: 'worker', REDIS_PREFIX: gw.prefix });
    try {
      await waitUntil('both settled', async () => fake.pushesTo(silent).length === 1 && fake.conflicts.some((c) => c.to === sent), 10_000);
      await sleep(300);
      assert.deepEqual([texts('crash-sent'), texts('crash-silent')], [['You said: "hi"'], ['You said: "hi"']], 'each user saw the reply once');
      assert.deepEqual(
        fake.conflicts.filter((c) => c.to === sent).map((c) => c.sameBody),
        [true],
        'the resend was the same request',
      );
      assert.match(await metric(worker, 'cb_send_unconfirmed_total'), /settled="resent"\} 2/);
      assert.match(await metric(worker, 'cb_send_already_accepted_total'), /channel="line"\} 1/);
    } finally {
      await worker.stop();
    }
  });

  test('a push delivered whose answer is lost, and one never answered, are sent again with the same key: each seen once', async () => {
    const app = await startTestApp('line-lost', { ...env, SEND_TIMEOUT_MS: '300', SEND_BACKOFF_BASE_MS: '5' });
    try {
      fake.failNext(1, { kind: 'lose-response' });
      fake.failNext(1, { kind: 'timeout' });
      fake.failNext(1, { kind: 'error', status: 500 });
      const u = lineUser('lost');
      await postLine(app.url, lineBody([fixtures.text(u, 1, 'l-1', 'one'), fixtures.text(u, 2, 'l-2', 'two'), fixtures.text(u, 3, 'l-3', 'three')]));
      await waitUntil('all answered', () => texts('lost').length >= 3, 15_000);
      await sleep(500);
      assert.deepEqual(texts('lost'), ['You said: "one"', 'You said: "two"', 'You said: "three"']);
      assert.deepEqual(
        fake.conflicts.filter((c) => c.to === u).map((c) => c.retryKey),
        [lineRetryKey(BOT, 'l-1#0')],
        'only the delivered one came back as 409',
      );
      assert.match(await metric(app, 'cb_send_retries_total'), /channel="line"\} 3/);
    } finally {
      await app.stop();
    }
  });

  test('a refused push is recorded as failed and the conversation moves on; the monthly limit is not retried, a rate limit is', async () => {
    const app = await startTestApp('line-refused', { ...env, SEND_BACKOFF_BASE_MS: '5', SEND_MAX_ATTEMPTS: '3' });
    try {
      fake.failNext(1, { kind: 'error', status: 400, message: 'Failed to send messages' });
      fake.failNext(1, { kind: 'error', status: 429, message: 'You have reached your monthly limit.' });
      fake.failNext(1, { kind: 'error', status: 429 });
      const u = lineUser('refused');
      await postLine(app.url, lineBody([fixtures.text(u, 1, 'r-1', 'one'), fixtures.text(u, 2, 'r-2', 'two'), fixtures.text(u, 3, 'r-3', 'three')]));
      await waitUntil('the third answered', () => texts('refused').length >= 1, 10_000);
      await sleep(200);
      assert.deepEqual(texts('refused'), ['You said: "three"'], 'refused replies are not resent; the rate-limited one went out on retry');
      const errors = await metric(app, 'cb_send_errors_total');
      assert.match(errors, /channel="line",code="invalid_request"\} 1/);
      assert.match(errors, /channel="line",code="monthly_limit"\} 1/);
    } finally {
      await app.stop();
    }
  });

  test("typing shows LINE's loading animation in the user's chat", async () => {
    const typing: BotHandler = {
      turn: async (_e, io) => {
        await io.typing();
        return { replies: [{ text: 'done' }] };
      },
    };
    const app = await startTestApp('line-typing', env, { bot: typing });
    try {
      const u = lineUser('typing');
      await postLine(app.url, lineBody([fixtures.text(u, 1, 't-1', 'look it up')]));
      await waitUntil('answered', () => texts('typing').length === 1, 10_000);
      assert.deepEqual(
        fake.loadings.filter((l) => l.chatId === u).map((l) => [l.account, l.seconds]),
        [[BOT, 20]],
      );
    } finally {
      await app.stop();
    }
  });

  test("the dialog bot's answers — text, suggestions as quick replies, a tapped suggestion — are accepted by LINE", async () => {
    const app = await startTestApp('line-dialog', { ...env, BOT: 'dialog', DATA_DIR: tmpDir('line-dialog') });
    try {
      const u = lineUser('dialog');
      const refusedBefore = fake.refused.length;
      await postLine(app.url, lineBody([fixtures.text(u, 1, 'd-1', 'hello')]));
      await waitUntil('greeted', () => fake.pushesTo(u).length >= 1, 20_000);
      const quick = fake
        .pushesTo(u)
        .flatMap((p) => p.messages)
        .map((m) => m.quickReply as { items: { action: { type: string; data: string; label: string } }[] } | undefined)
        .find(Boolean);
      assert.ok(quick, `the greeting offers suggestions: ${JSON.stringify(fake.pushesTo(u))}`);
      const tap = quick.items[0]!.action;
      assert.equal(tap.type, 'postback');
      const before = fake.pushesTo(u).length;
      await postLine(app.url, lineBody([fixtures.postback(u, 2, 'd-2', tap.data)]));
      await waitUntil('the tapped suggestion answered', () => fake.pushesTo(u).length > before, 20_000);
      assert.deepEqual(fake.refused.slice(refusedBefore), [], 'LINE refused nothing the dialog said');
    } finally {
      await app.stop();
    }
  });

  test('dev mode: without CHANNELS_FILE and LINE_API_URL a LINE channel is served by the built-in emulator', async () => {
    const app = await startTestApp('line-dev', { ...target.env });
    try {
      assert.ok(app.fakeLine, 'the emulator runs');
      const u = lineUser('dev');
      const emulated = await fetch(`${app.url}/_dev/line/emulate`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: u, text: 'hello dev' }) });
      assert.equal(emulated.status, 200);
      await waitUntil('answered', () => app.fakeLine!.pushesTo(u).length === 1, 10_000);
      const listed = (await (await fetch(`${app.url}/_dev/line/pushes?user=${u}`)).json()) as { messages: { text: string }[] }[];
      assert.deepEqual(
        listed.map((p) => p.messages[0]!.text),
        ['You said: "hello dev"'],
      );
    } finally {
      await app.stop();
    }
  });
});
