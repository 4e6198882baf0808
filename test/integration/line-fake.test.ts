/** The LINE fake answers as LINE documents: what the adapter's tests rely on is checked here, on the wire. */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { FakeLine } from '../../src/dev/fake-line';
import { LINE_CHANNELS, lineUser } from '../helpers/line';

const fake = new FakeLine({ channels: LINE_CHANNELS, retryKeyTtlMs: 300 });
let base = '';
before(async () => {
  base = await fake.listen();
});
after(() => fake.close());

const KEY = '123e4567-e89b-12d3-a456-426614174000';
async function push(body: unknown, o: { key?: string; token?: string } = {}) {
  const res = await fetch(`${base}/v2/bot/message/push`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${o.token ?? LINE_CHANNELS[0]!.accessToken}`, ...(o.key ? { 'x-line-retry-key': o.key } : {}) },
    body: JSON.stringify(body),
  });
  return { status: res.status, headers: res.headers, body: (await res.json()) as any };
}
const hello = (to = lineUser('fake')) => ({ to, messages: [{ type: 'text', text: 'Hello, user' }] });

test('a retry key is executed once: the same key again is 409 with the accepted request id and its sentMessages, whatever the body', async () => {
  const first = await push(hello(), { key: KEY });
  assert.equal(first.status, 200);
  assert.match(first.body.sentMessages[0].id, /^\d{18}$/);
  const again = await push(hello(), { key: KEY });
  assert.equal(again.status, 409);
  assert.deepEqual(again.body, { message: 'The retry key is already accepted', sentMessages: first.body.sentMessages });
  assert.match(again.headers.get('x-line-accepted-request-id') ?? '', /^[0-9a-f-]{36}$/);
  assert.notEqual(again.headers.get('x-line-request-id'), again.headers.get('x-line-accepted-request-id'));
  const other = await push({ ...hello(), messages: [{ type: 'text', text: 'something else' }] }, { key: KEY });
  assert.equal(other.status, 409, 'LINE does not execute a keyed request twice, even with another body');
  assert.deepEqual(
    fake.conflicts.map((c) => c.sameBody),
    [true, false],
  );
  assert.equal(fake.pushesTo(lineUser('fake')).length, 1);
  // Another channel's keys are its own.
  assert.equal((await push(hello(), { key: KEY, token: LINE_CHANNELS[1]!.accessToken })).status, 200);
});

test("after the retry key's lifetime (24 hours at LINE; shortened here) the same key is a new request: a duplicate", async () => {
  const key = '00000000-0000-4000-8000-000000000001';
  const to = lineUser('ttl');
  assert.equal((await push(hello(to), { key })).status, 200);
  await new Promise((r) => setTimeout(r, 350));
  assert.equal((await push(hello(to), { key })).status, 200);
  assert.equal(fake.pushesTo(to).length, 2);
});

test("bad requests get LINE's error body: 401 without a valid token, 400 with every problem in details, a malformed key or an unknown user", async () => {
  assert.deepEqual(await push(hello(), { token: 'nope' }).then((r) => [r.status, r.body.message]), [401, 'Authentication failed. Confirm that the access token in the authorization header is valid.']);
  const bad = await push({
    to: lineUser('fake'),
    messages: [
      { type: 'text', text: 'x'.repeat(5_001), quickReply: { items: Array.from({ length: 14 }, () => ({ type: 'action', action: { type: 'message', label: 'a', text: 'a' } })) } },
      { type: 'image', originalContentUrl: 'http://x/a.png' },
    ],
  });
  assert.equal(bad.status, 400);
  assert.equal(bad.body.message, 'The request body has 4 error(s)');
  assert.deepEqual(
    bad.body.details.map((d: { property: string }) => d.property),
    ['messages[0].text', 'messages[0].quickReply.items', 'messages[1].originalContentUrl', 'messages[1].previewImageUrl'],
  );
  assert.deepEqual((await push({ to: lineUser('fake'), messages: [] })).body.details, [{ message: 'Size must be between 1 and 5', property: 'messages' }]);
  assert.deepEqual(await push(hello(), { key: 'not-a-uuid' }).then((r) => r.status), 400);
  assert.deepEqual(await push(hello('someone')).then((r) => [r.status, r.body.message]), [400, 'Failed to send messages']);
});

test('the loading animation: 202 for a user chat, 400 for another chat id or a duration that is not a multiple of 5 up to 60', async () => {
  const loading = (body: unknown) => fetch(`${base}/v2/bot/chat/loading/start`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${LINE_CHANNELS[0]!.accessToken}` }, body: JSON.stringify(body) });
  assert.equal((await loading({ chatId: lineUser('fake'), loadingSeconds: 20 })).status, 202);
  assert.equal((await loading({ chatId: `C${'a'.repeat(32)}`, loadingSeconds: 20 })).status, 400);
  assert.equal((await loading({ chatId: lineUser('fake'), loadingSeconds: 7 })).status, 400);
});
