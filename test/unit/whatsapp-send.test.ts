/** The WhatsApp channel's sends against the Cloud API fake: the request WhatsApp gets, and each error as the reply ledger must act on it. */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { SendError } from '../../src/channels/channel';
import { replyToken, type InboundEvent } from '../../src/channels/event';
import { GraphClient } from '../../src/channels/meta/graph';
import { WhatsAppChannel } from '../../src/channels/whatsapp/channel';
import { FakeGraph } from '../../src/dev/fake-graph';
import { WA_NUMBERS, waFake, waToken } from '../helpers/whatsapp';

const PHONE = WA_NUMBERS[0]!;
const graph = new FakeGraph();
const wa = waFake();
graph.mount(wa.router());
let client: GraphClient;
let channel: WhatsAppChannel;
const to = { channel: 'whatsapp', account: PHONE, user: '4915112345678' };
const about: InboundEvent = { id: 'wamid.in1', mid: 'wamid.in1', kind: 'text', ...to, timestamp: Date.now(), receivedAt: Date.now() };

const send = (text: string, ch = channel, account = PHONE) => {
  const ref = { event: 'wamid.in1', index: 0 };
  const target = { ...to, account };
  const [m] = ch.render([{ text }], target, 'bot').messages;
  return ch.send(m!, { to: target, ref, token: replyToken(ref), idempotencyKey: 'wamid.in1#0', author: 'bot', about });
};
const failure = async (p: Promise<unknown>): Promise<SendError> => {
  try {
    await p;
  } catch (err) {
    if (err instanceof SendError) return err;
    throw err;
  }
  throw new Error('the send did not fail');
};

before(async () => {
  client = new GraphClient({ baseUrl: await graph.listen(), timeoutMs: 300, maxAttempts: 3, backoffBaseMs: 1, backoffMaxMs: 5 });
  channel = new WhatsAppChannel({
    graph: client,
    numbers: new Map([
      [PHONE, { id: PHONE, accessToken: waToken(PHONE) }],
      [WA_NUMBERS[1]!, { id: WA_NUMBERS[1]!, accessToken: 'EAAG-revoked' }],
    ]),
  });
});
after(async () => {
  client.close();
  await graph.close();
  await wa.close();
});

test('a reply is posted to /{phone-number-id}/messages with the bearer token and our callback data; the wamid is its message id', async () => {
  const r = await send('hello');
  const m = wa.sent.at(-1)!;
  assert.equal(r.messageId, m.wamid);
  assert.deepEqual(m.body, { messaging_product: 'whatsapp', recipient_type: 'individual', to: to.user, type: 'text', text: { body: 'hello', preview_url: false }, biz_opaque_callback_data: '{"mid":"wamid.in1","i":0}' });
});

test('Cloud API errors: throughput and pair rate limits are retried; window, undeliverable, bad parameter and bad token are final and certainly not sent', async () => {
  wa.failNext(2, { kind: 'error', status: 400, code: 131056, message: '(#131056) (Business Account, Consumer Account) pair rate limit hit' });
  assert.equal((await send('after the limit')).attempts, 3, 'retried until it went out');
  wa.failNext(3, { kind: 'error', status: 400, code: 130429, message: '(#130429) Rate limit hit' });
  const limited = await failure(send('still limited'));
  assert.deepEqual([limited.code, limited.retryable, limited.definitelyNotSent, limited.context.attempts], ['130429', true, true, 3], 'the conversation waits and tries later');
  for (const [code, status] of [
    [131047, 400],
    [131026, 400],
    [131009, 400],
    [131047, 500],
  ] as const) {
    wa.failNext(1, { kind: 'error', status, code, message: `(#${code}) x` });
    const e = await failure(send('refused'));
    assert.deepEqual([e.code, e.retryable, e.definitelyNotSent, e.context.attempts], [String(code), false, true, 1], `${code} over HTTP ${status}`);
  }
  const token = await failure(send('hi', channel, WA_NUMBERS[1]!));
  assert.deepEqual([token.code, token.context.status, token.retryable], ['190', 401, false]);
  wa.failNext(1, { kind: 'timeout' });
  const t = await failure(send('no answer'));
  assert.deepEqual([t.code, t.uncertain], ['timeout', true], 'may have gone out: the statuses decide');
});
