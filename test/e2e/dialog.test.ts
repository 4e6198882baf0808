/**
 * The dialog bot end to end: gateway and workers as processes, signed webhooks in, the
 * fake Graph API and the local shop API out, the admin API for the agent, PostgreSQL for
 * the log. What a Messenger user and an agent see.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { RecordedCall } from '../../src/dev/fake-graph';
import { FakeCommerce, orderStatusAction } from '../../src/dev/fake-commerce';
import { BUNDLED_CORPUS, checkCorpus, mergeCorpora, readCorpus } from '../../src/nlu/corpus';
import { NluModel } from '../../src/nlu/model';
import { ModelStore } from '../../src/nlu/store';
import { connectRedis } from '../../src/queue/redis';
import { postgresClient } from '../../src/chatlog/sql';
import { redisTargets, testPostgres, tmpDir } from '../helpers/env';
import { body, post, text } from '../helpers/fb';
import { startPipeline, type Pipeline } from '../helpers/pipeline';
import { sleep, waitUntil } from '../helpers/wait';

const target = redisTargets()[1]!; // cluster: the context keys and the model keys must be slot-safe
const ADMIN = 'admin-token-for-the-dialog-test';
const PAGE = '101';

describe('dialog bot end to end', { timeout: 180_000 }, () => {
  const shop = new FakeCommerce();
  let p: Pipeline;
  let databaseUrl: string;
  let last = 0;
  /** Real send times, strictly increasing: agent actions are stamped with the server's clock too. */
  const now = () => (last = Math.max(last + 1, Date.now()));
  before(async () => {
    const dir = tmpDir('dialog-e2e');
    const shopUrl = await shop.listen();
    const model = await NluModel.train(readCorpus(BUNDLED_CORPUS));
    const modelFile = path.join(dir, 'model.json');
    model.save(modelFile);
    const actionsFile = path.join(dir, 'actions.json');
    fs.writeFileSync(actionsFile, JSON.stringify({ actions: { 'order.status': { ...orderStatusAction(shopUrl), timeoutMs: 500, retries: 0 } } }));
    databaseUrl = await testPostgres().database('dialog');
    p = await startPipeline('dialog', target.env, {
      dir,
      databaseUrl,
      env: { BOT: 'dialog', NLU_MODEL: modelFile, ACTIONS_FILE: actionsFile, ADMIN_TOKEN: ADMIN, NLU_RELOAD_MS: '200', HANDOFF_IDLE_MINUTES: '30' },
    });
  });
  after(async () => {
    await p?.stop();
    await shop.close();
  });

  const messages = (user: string) => p.graph.messagesTo(user);
  /** Sends what the user types and waits for the bot's `n` new replies (Messenger users wait too). */
  async function say(user: string, words: string, n = 1, ts = now()): Promise<RecordedCall[]> {
    const before = messages(user).length;
    assert.equal((await post(p.gateway.url, body([text(PAGE, user, ts, `m-${user}-${ts}`, words)]))).status, 200);
    if (n === 0) return [];
    await waitUntil(`${n} replies to "${words}"`, () => messages(user).length >= before + n, 20_000);
    return messages(user).slice(before);
  }
  async function send(user: string, event: Record<string, unknown>): Promise<RecordedCall[]> {
    const before = messages(user).length;
    assert.equal((await post(p.gateway.url, body([{ sender: { id: user }, recipient: { id: PAGE }, timestamp: now(), ...event }]))).status, 200);
    await waitUntil('a reply', () => messages(user).length > before, 20_000);
    return messages(user).slice(before);
  }
  const admin = (pathname: string, init: RequestInit & { json?: unknown } = {}) =>
    fetch(`${p.gateway.url}/admin/api${pathname}`, {
      method: init.json === undefined ? 'GET' : 'POST',
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json', ...(init.headers as Record<string, string>) },
      ...(init.json !== undefined ? { body: JSON.stringify(init.json) } : {}),
    });
  const texts = (calls: RecordedCall[]) => calls.map((c) => c.text);
  const quick = (c: RecordedCall) => ((c.body.message as { quick_replies?: { payload: string }[] }).quick_replies ?? []).map((q) => q.payload);

  test('greeting → order status without a number → the number → the shop API answers; typing and seen marks go out', async () => {
    const hi = await say('ann', 'hi there');
    assert.ok(quick(hi[0]!).includes('INTENT:order.status'), 'the greeting suggests next steps');
    assert.match((await say('ann', 'where is my order?'))[0]!.text!, /order number/i);
    const answer = await say('ann', 'it is SH-482913');
    assert.match(answer[0]!.text!, /Order SH-482913 is shipped\. Expected: Thursday/);
    const all = p.graph.calls.filter((c) => c.recipientId === 'ann');
    const typing = all.findIndex((c) => c.body.sender_action === 'typing_on');
    assert.ok(typing >= 0 && typing < all.indexOf(answer[0]!), 'typing_on before the answer that needed the shop API');
    assert.ok(
      all.some((c) => c.body.sender_action === 'mark_seen'),
      'mark_seen on receipt',
    );
    assert.match((await say('ann', 'and where is my order now'))[0]!.text!, /SH-482913 is shipped/, 'the number is remembered');
  });

  test('the shop API hanging gives a polite apology inside the action timeout', async () => {
    shop.fail({ kind: 'hang' });
    const r = await say('ben', 'status of order SH-100200 please');
    assert.match(r[0]!.text!, /can't reach our order system/);
    assert.match((await say('ben', 'status of order SH-100200 please'))[0]!.text!, /SH-100200 is processing/);
  });

  test('quick replies and postback buttons route by payload', async () => {
    const welcome = await send('cat', { postback: { title: 'Get Started', payload: 'GET_STARTED' } });
    assert.ok(quick(welcome[0]!).includes('INTENT:returns.policy'));
    const returns = await send('cat', { message: { mid: 'm-cat-qr', text: 'Returns', quick_reply: { payload: 'INTENT:returns.policy' } } });
    assert.match(returns[0]!.text!, /return/i);
    const tracked = await send('cat', { postback: { title: 'Track my order', payload: 'INTENT:order.status', mid: 'm-cat-pb' } });
    assert.match(tracked[0]!.text!, /order number/i);
  });

  test('handoff: the bot goes quiet, the agent replies in order with the HUMAN_AGENT tag, release brings the bot back', async () => {
    const h = await say('dan', 'I want to talk to a real person');
    assert.match(h[0]!.text!, /person|human|team/i);
    assert.equal(((await (await admin('/conversations/101:dan/state')).json()) as { mode: string }).mode, 'human');
    await say('dan', 'hello? my parcel never arrived', 0);
    // The agent answers right behind the user's message: the queue keeps them in order.
    const reply = await admin('/conversations/101:dan/reply', { json: { text: 'Hi, Alice here — I am looking into it.', id: 'r1' } });
    assert.equal(reply.status, 202);
    assert.equal(((await (await admin('/conversations/101:dan/reply', { json: { text: 'Hi, Alice here — I am looking into it.', id: 'r1' } })).json()) as { status: string }).status, 'duplicate', 'a retried request sends nothing twice');
    await waitUntil('the agent reply', () => messages('dan').length >= 2, 20_000);
    await sleep(300);
    const sent = messages('dan');
    assert.deepEqual(texts(sent), [h[0]!.text, 'Hi, Alice here — I am looking into it.'], 'the bot said nothing in human mode; the agent reply went out once');
    assert.equal(sent[1]!.body.messaging_type, 'MESSAGE_TAG');
    assert.equal(sent[1]!.body.tag, 'HUMAN_AGENT');

    assert.equal((await admin('/conversations/101:dan/release', { json: {} })).status, 202);
    const back = await say('dan', 'thanks a lot');
    assert.equal(back.length, 1, 'the bot answers again');

    // The log shows who wrote what and who has the conversation.
    const db = postgresClient(databaseUrl, () => undefined);
    try {
      const rows = await waitUntil(
        'the chatlog rows',
        async () => {
          const r = await db.query<{ author: string; text: string; direction: string }>(
            `SELECT m.author, m.text, m.direction FROM messages m JOIN conversations c ON c.id = m.conversation_id WHERE c.user_id = 'dan' ORDER BY coalesce(m.received_at, m.replied_at, m.platform_ts), m.id`,
          );
          return r.length >= 6 ? r : undefined;
        },
        20_000,
      );
      assert.deepEqual(
        rows!.map((r) => r.author),
        ['user', 'bot', 'user', 'agent', 'user', 'bot'],
      );
      const conv = await waitUntil(
        'status back to bot',
        async () => (await db.query<{ status: string; status_cause: string }>(`SELECT status, status_cause FROM conversations WHERE user_id = 'dan'`)).find((c) => c.status === 'bot' && c.status_cause === 'release'),
        20_000,
      );
      assert.ok(conv);
    } finally {
      await db.close();
    }
  });

  test('a message older than the 24-hour window is logged as expired, not answered', async () => {
    const old = Date.now() - 25 * 3_600_000;
    assert.equal((await post(p.gateway.url, body([text(PAGE, 'eve', old, 'm-eve-old', 'hello?')]))).status, 200);
    const fresh = await say('eve', 'hello');
    assert.equal(fresh.length, 1);
    assert.equal(messages('eve').length, 1, 'only the fresh message was answered');
    const db = postgresClient(databaseUrl, () => undefined);
    try {
      const row = await waitUntil('the expired row', async () => (await db.query<{ error: string }>(`SELECT error FROM messages WHERE mid = 'm-eve-old'`))[0], 20_000);
      assert.match(row!.error, /expired/);
    } finally {
      await db.close();
    }
  });

  test('the admin API refuses without the token, and names what is wrong with a request', async () => {
    assert.equal((await fetch(`${p.gateway.url}/admin/api/conversations/101:x/state`)).status, 401);
    assert.equal((await admin('/conversations/101:x/state', { headers: { authorization: 'Bearer wrong-token-wrong-token' } })).status, 401);
    const empty = await admin('/conversations/101:x/reply', { json: { text: '  ' } });
    assert.equal(empty.status, 400);
    assert.match(((await empty.json()) as { error: string }).error, /"text"/);
    assert.equal((await admin('/conversations/999:x/takeover', { json: {} })).status, 404, 'a page this deployment does not serve');
    assert.equal((await admin('/conversations/no-colon/takeover', { json: {} })).status, 400);
    const long = await admin('/conversations/101:x/reply', { json: { text: 'x'.repeat(5_001) } });
    assert.equal(long.status, 400);
    assert.match(((await long.json()) as { error: string }).error, /at most 5000 characters/);
  });

  test('a newly published model is used without a restart, and no message is dropped while workers switch', async () => {
    const corpus = mergeCorpora([
      readCorpus(BUNDLED_CORPUS),
      checkCorpus(
        {
          locale: 'en',
          data: [
            {
              intent: 'gift.wrap',
              utterances: ['can you gift wrap it', 'do you offer gift wrapping', 'wrap it as a present please', 'is gift wrap available', 'I want it wrapped as a gift'],
              answers: ['Yes! Gift wrapping is free at checkout.'],
            },
          ],
        },
        'gift',
      ),
    ]);
    const next = await NluModel.train(corpus);
    const redis = await connectRedis({ ...target, commandTimeoutMs: 2_000 }, () => undefined, 'test-publish');
    try {
      const users = ['f1', 'f2', 'f3', 'f4'];
      let sent = 0;
      let publishing: Promise<string> | undefined;
      for (let round = 0; round < 6; round++) {
        if (round === 2) publishing = new ModelStore(redis, p.prefix).publish(next);
        await Promise.all(
          users.map(async (u) => {
            await say(u, round % 2 ? 'thanks' : 'hello');
            sent++;
          }),
        );
      }
      await publishing;
      assert.equal(
        users.reduce((n, u) => n + messages(u).length, 0),
        sent,
        'every message during the switch was answered once',
      );
      const gift = await waitUntil(
        'the new intent answered',
        async () => {
          const r = await say('gus', 'can you gift wrap it');
          return /Gift wrapping is free/.test(r[0]!.text!) ? r : undefined;
        },
        20_000,
        100,
      );
      assert.ok(gift);
      await waitUntil('each worker switched', () => p.workers.every((w) => w.output.some((l) => l.includes('NLU model switched'))), 10_000);
    } finally {
      redis.disconnect();
    }
  });
});
