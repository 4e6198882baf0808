import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { SendError } from '../../src/channels/channel';
import { replyToken, type InboundEvent } from '../../src/channels/event';
import { sendScope } from '../../src/channels/http-client';
import { GraphClient } from '../../src/channels/meta/graph';
import { MessengerChannel } from '../../src/channels/messenger/channel';
import { FakeGraph } from '../../src/dev/fake-graph';

/** The Messenger channel's send over the Graph API client, against the fake Graph API. */
const graph = new FakeGraph({ tokens: new Map([['token-p1', 'p1']]) });
let channel: MessengerChannel;
let retries = 0;
const pages = new Map([
  ['p1', { id: 'p1', accessToken: 'token-p1' }],
  ['p2', { id: 'p2', accessToken: 'revoked' }],
]);

function messenger(baseUrl: string, maxAttempts = 4): MessengerChannel {
  return new MessengerChannel({ graph: new GraphClient({ baseUrl, timeoutMs: 300, maxAttempts, backoffBaseMs: 1, backoffMaxMs: 5, onRetry: () => retries++ }), pages });
}

const about: InboundEvent = { id: 'm-in', kind: 'text', channel: 'messenger', account: 'p1', user: 'u1', timestamp: Date.now(), receivedAt: Date.now() };
const api = {
  send: (page: string, text: string, ch = channel) => {
    const ref = { event: 'm-in', index: 0 };
    const [m] = ch.render([{ text }], { channel: 'messenger', account: page, user: 'u1' }, 'bot').messages;
    return ch.send(m!, { to: { channel: 'messenger', account: page, user: 'u1' }, ref, token: replyToken(ref), idempotencyKey: 'm-in#0', author: 'bot', about });
  },
};
const req = (text: string) => text;

before(async () => {
  channel = messenger(await graph.listen());
});
after(() => graph.close());

test('a reply reaches the Send API with its metadata and the page token', async () => {
  const r = await api.send('p1', req('hello'));
  assert.equal(r.attempts, 1);
  assert.match(r.messageId ?? '', /^m_/);
  const call = graph.calls.at(-1)!;
  assert.deepEqual([call.pageId, call.recipientId, call.text, call.metadata], ['p1', 'u1', 'hello', { mid: 'm-in', i: 0 }]);
  assert.equal(call.body.messaging_type, 'RESPONSE');
});

for (const [label, fault] of [
  ['1200 temporary failure', { kind: 'error', status: 500, code: 1200 }],
  ['2 service error', { kind: 'error', status: 500, code: 2 }],
  ['4 app rate limit', { kind: 'error', status: 400, code: 4 }],
  ['613 rate limit', { kind: 'error', status: 400, code: 613 }],
  ['HTTP 503 with an unlisted Graph code', { kind: 'error', status: 503, code: 1 }],
] as const) {
  test(`retries after ${label} and then succeeds`, async () => {
    const before = graph.calls.length;
    retries = 0;
    graph.failNext(2, fault);
    const r = await api.send('p1', req(label));
    assert.equal(r.attempts, 3);
    assert.equal(retries, 2);
    assert.equal(graph.calls.length, before + 1, 'delivered once');
  });
}

for (const code of [100, 190, 10, 551, 200, 230]) {
  test(`does not retry Graph error ${code}`, async () => {
    graph.failNext(1, { kind: 'error', status: 400, code });
    retries = 0;
    await assert.rejects(api.send('p1', req('x')), (e: unknown) => e instanceof SendError && e.code === String(code) && !e.retryable && e.context.attempts === 1);
    assert.equal(retries, 0);
  });
}

for (const [label, fault] of [
  ['a timeout', { kind: 'timeout' }],
  ['a connection cut after the request was sent', { kind: 'drop' }],
] as const) {
  test(`does not blindly retry ${label}: the message may have been delivered`, async () => {
    graph.failNext(1, fault);
    retries = 0;
    await assert.rejects(api.send('p1', req('x')), (e: unknown) => e instanceof SendError && e.uncertain && !e.definitelyNotSent && e.context.attempts === 1);
    assert.equal(retries, 0);
  });
}

test('a refused connection (never sent) is retried', async () => {
  const refused = messenger('http://127.0.0.1:9/v21.0', 2);
  await assert.rejects(api.send('p1', req('x'), refused), (e: unknown) => e instanceof SendError && !e.uncertain && e.definitelyNotSent && e.context.attempts === 2);
});

test('gives up after the last attempt, saying it may be retried later', async () => {
  graph.failNext(4, { kind: 'error', status: 500, code: 2 });
  await assert.rejects(api.send('p1', req('x')), (e: unknown) => e instanceof SendError && e.retryable && e.context.attempts === 4);
});

test('a page without a token, or a token Facebook refuses, fails without retrying', async () => {
  await assert.rejects(api.send('p9', req('x')), (e: unknown) => e instanceof SendError && e.code === 'no_token');
  await assert.rejects(api.send('p2', req('x')), (e: unknown) => e instanceof SendError && e.code === '190' && e.context.attempts === 1);
});

test('a worker that lost its conversation stops retrying: the new holder decides about that reply', async () => {
  graph.failNext(1, { kind: 'error', status: 500, code: 2 }); // retryable: a worker that still held it would try again
  const before = graph.calls.length;
  let held = true;
  const r = sendScope.run({ stillHeld: () => held }, () => {
    const p = api.send('p1', req('stalled'));
    held = false; // the lock is lost while the first attempt is out
    return p;
  });
  await assert.rejects(r, (e: unknown) => e instanceof SendError && e.retryable && e.context.attempts === 1);
  assert.equal(graph.calls.length - before, 0, 'the failed attempt delivered nothing, and no retry was made');
});
