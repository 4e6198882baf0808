/**
 * The dialog and the handoff on a real Redis (context store) with the bundled model and the
 * local shop API: what a user reads in Messenger, turn by turn.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { InboundEvent } from '../../src/channels/event';
import type { Reply } from '../../src/channels/reply';
import { ActionRunner, type ActionSpec } from '../../src/bot/actions';
import { ContextStore } from '../../src/bot/context';
import { ConversationBot } from '../../src/bot/conversation';
import { Inbox } from '../../src/inbox/service';
import { InboxStore } from '../../src/inbox/state';
import { Dialog, GET_STARTED } from '../../src/bot/dialog';
import type { BotTurn } from '../../src/bot/handler';
import { FakeCommerce, orderStatusAction } from '../../src/dev/fake-commerce';
import { createLogger } from '../../src/log';
import { BUNDLED_CORPUS, readCorpus } from '../../src/nlu/corpus';
import { NluModel } from '../../src/nlu/model';
import { NluService } from '../../src/nlu/service';
import { connectRedis, type RedisClient } from '../../src/queue/redis';
import { redisTargets, uniquePrefix } from '../helpers/env';

const logger = createLogger('silent');
const HOUR = 3_600_000;

describe('dialog', () => {
  const shop = new FakeCommerce();
  let redis: RedisClient;
  let nlu: NluService;
  let shopUrl: string;
  before(async () => {
    [redis, shopUrl] = await Promise.all([connectRedis({ ...redisTargets()[0]!, commandTimeoutMs: 2_000 }, () => undefined, 'test-dialog'), shop.listen()]);
    nlu = new NluService(await NluModel.train(readCorpus(BUNDLED_CORPUS)), { threshold: 0.5, reloadMs: 60_000 }, logger);
  });
  after(async () => {
    redis.disconnect();
    await shop.close();
  });

  /** One simulated user talking to a fresh bot; `say` returns the texts the bot sent. */
  function user(actionOverrides: Partial<ActionSpec> = {}, handoffIdleMs = HOUR) {
    const actions = new Map([['order.status', { ...orderStatusAction(shopUrl), ...actionOverrides }]]);
    const prefix = uniquePrefix('dialog');
    const contexts = new ContextStore(redis, prefix, HOUR);
    const inbox = new Inbox(new InboxStore(redis, prefix), { logger });
    const bot = new ConversationBot(new Dialog({ nlu, actions, runner: new ActionRunner(), logger }), contexts, { handoffIdleMs }, logger, undefined, { inbox, logger });
    const typing: number[] = [];
    let n = 0;
    let clock = Date.now();
    const turn = async (fields: Partial<InboundEvent>, at = (clock += 1_000)): Promise<BotTurn & { texts: string[] }> => {
      const e: InboundEvent = { id: `m${++n}`, kind: 'text', channel: 'messenger', account: 'p1', user: 'u1', timestamp: at, receivedAt: at, ...fields };
      const t = await bot.turn(e, { typing: async () => void typing.push(n) });
      return Object.assign(t, { texts: t.replies.map((r) => r.text ?? '') });
    };
    return {
      typing,
      contexts,
      inbox,
      turn,
      say: (text: string) => turn({ text }),
      tap: (payload: string, title = 'button') => turn({ kind: 'postback', payload, title }),
      agent: (kind: 'takeover' | 'release' | 'agent', text?: string, at?: number) => turn({ kind, agent: 'alice', ...(text ? { text } : {}) }, at),
      skip: (ms: number) => (clock += ms),
    };
  }
  const payloads = (r: { replies: Reply[] }) => r.replies.flatMap((m) => m.quickReplies ?? []).map((q) => q.payload);

  test('order status: asks for the number, remembers it, answers from the shop API with typing shown first', async () => {
    const u = user();
    const hi = await u.say('hello there');
    assert.equal(hi.nlu?.intent, 'greetings.hello');
    assert.ok(payloads(hi).includes('INTENT:order.status'), 'the greeting offers next steps as quick replies');

    const ask = await u.say('where is my order?');
    assert.equal(ask.nlu?.intent, 'order.status');
    assert.match(ask.texts[0]!, /order number/i);
    assert.equal(u.typing.length, 0, 'no typing indicator before a question');

    const answer = await u.say('it is sh482913');
    assert.match(answer.texts[0]!, /SH-482913 is shipped/);
    assert.ok(answer.actionMs !== undefined && answer.actionMs >= 0);
    assert.deepEqual(u.typing, [3], 'typing_on went out before the slow action');

    const again = await u.say('and where is my order now?');
    assert.match(again.texts[0]!, /SH-482913 is shipped/, 'the order number is remembered');
  });

  test('an unknown order number is not remembered; a quick-reply payload routes to its intent', async () => {
    const u = user();
    assert.match((await u.say('track order SH-000001 please')).texts[0]!, /couldn't find an order SH-000001/);
    const tapped = await u.turn({ kind: 'quick_reply', text: 'Track my order', payload: 'INTENT:order.status' });
    assert.equal(tapped.nlu?.intent, 'order.status');
    assert.equal(tapped.nlu?.score, 1);
    assert.match(tapped.texts[0]!, /order number/i, 'asks again instead of reusing the wrong number');
  });

  test('an action that times out or fails gives a polite apology, never an error', async () => {
    const u = user({ timeoutMs: 200, retries: 0 });
    shop.fail({ kind: 'hang' });
    const slow = await u.say('where is my order SH-482913');
    assert.match(slow.texts[0]!, /can't reach our order system/);
    assert.ok(slow.actionMs! >= 200);
    shop.fail({ kind: 'error', status: 503 }, 2);
    const u2 = user({ retries: 1 });
    assert.match((await u2.say('status of order SH-100200')).texts[0]!, /can't reach our order system/);
    assert.match((await u2.say('status of order SH-100200')).texts[0]!, /SH-100200 is processing/, 'works again once the shop is back');
  });

  test('postbacks: Get Started welcomes, INTENT: payloads route, unknown payloads fall back to the button title', async () => {
    const u = user();
    const start = await u.tap(GET_STARTED, 'Get Started');
    assert.equal(start.nlu?.intent, 'greetings.hello');
    assert.ok(payloads(start).length >= 2);
    assert.equal((await u.tap('INTENT:returns.policy', 'Returns')).nlu?.intent, 'returns.policy');
    const legacy = await u.tap('OLD_BUTTON_42', 'What are your opening hours?');
    assert.equal(legacy.nlu?.intent, 'store.hours');
  });

  test('not understanding: a fallback, then an offer of a person, then a handoff; understanding resets the count', async () => {
    const u = user();
    const first = await u.say('xqzv plorf wibble');
    assert.equal(first.nlu?.intent, 'None');
    assert.ok(first.texts[0]!.length > 0);
    const second = await u.say('blorp zzkt frob');
    assert.match(second.texts[0]!, /talk to a person/i);
    assert.ok(payloads(second).includes('INTENT:agent.handoff'));
    const third = await u.say('vrrm qlx snarf');
    assert.equal(third.mode?.to, 'human');
    assert.equal(third.mode?.cause, 'fallback');

    const v = user();
    await v.say('xqzv plorf wibble');
    await v.say('thank you so much');
    const after = await v.say('blorp zzkt frob');
    assert.doesNotMatch(after.texts[0]!, /talk to a person/i, 'a message understood in between starts the count again');
  });

  test('handoff: the bot goes quiet, agent replies carry the agent, release or idle time bring the bot back', async () => {
    const u = user({}, 10 * 60_000);
    const h = await u.say('I want to talk to a real person');
    assert.equal(h.nlu?.intent, 'agent.handoff');
    assert.equal(h.mode?.to, 'human');
    assert.equal(h.texts.length, 1);
    const quiet = await u.say('hello? where is my order SH-482913');
    assert.equal(quiet.replies.length, 0, 'the bot does not answer in human mode');
    assert.equal(quiet.nlu?.intent, 'order.status', 'but the message is still understood for the log');

    const reply = await u.agent('agent', 'Hi, Alice here. Your order ships Thursday.');
    assert.equal(reply.author, 'agent');
    assert.deepEqual(reply.texts, ['Hi, Alice here. Your order ships Thursday.']);
    assert.equal((await u.agent('release')).mode?.to, 'bot');
    assert.equal((await u.say('thanks!')).replies.length, 1, 'the bot answers again after the release');

    await u.agent('takeover');
    assert.equal((await u.say('anyone there?')).replies.length, 0);
    u.skip(11 * 60_000);
    const back = await u.say('hello?');
    assert.equal(back.mode?.to, 'bot');
    assert.equal(back.mode?.cause, 'idle');
    assert.equal(back.replies.length, 1, 'after the idle time the bot answers again');
  });

  test('an event processed twice starts from the same state and gives the same replies', async () => {
    const u = user();
    await u.say('xqzv plorf wibble'); // one fallback so far
    const e: InboundEvent = { id: 'replayed', kind: 'text', channel: 'messenger', account: 'p1', user: 'u1', timestamp: Date.now() + 60_000, receivedAt: Date.now(), text: 'blorp zzkt frob' };
    const bot = new ConversationBot(new Dialog({ nlu, actions: new Map(), runner: new ActionRunner(), logger }), u.contexts, { handoffIdleMs: HOUR }, logger, undefined, { inbox: u.inbox, logger });
    const io = { typing: async () => undefined };
    const a = await bot.turn(e, io);
    const b = await bot.turn(e, io); // the worker died before the ack: same event again
    assert.deepEqual(b.replies, a.replies);
    assert.match(a.replies[0]!.text!, /talk to a person/i, 'still the second fallback, not the third');
    assert.equal((await u.contexts.peek('p1:u1')).fallbacks, 2);
  });
});
