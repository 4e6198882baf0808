/**
 * The WhatsApp Cloud API fake behaves like the real one where our code relies on it: auth and
 * error bodies, the answer to a send, statuses posted back signed, read receipts with the typing
 * indicator; it shares one base URL with Messenger's Send API; and dev mode serves a WhatsApp
 * number through it with no configuration (the emulator's API: a user's message, the replies).
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import type { ParsedEvent } from '../../src/channels/event';
import { GraphClient } from '../../src/channels/meta/graph';
import { MetaIngress } from '../../src/channels/meta/ingress';
import { WhatsAppChannel } from '../../src/channels/whatsapp/channel';
import { parseWhatsAppWebhook } from '../../src/channels/whatsapp/parse';
import { DEV_WHATSAPP_NUMBER } from '../../src/channels/registry';
import { FakeGraph } from '../../src/dev/fake-graph';
import { startTestApp } from '../helpers/app';
import { redisTargets } from '../helpers/env';
import { APP_SECRET, VERIFY_TOKEN } from '../helpers/fb';
import { WA_NUMBERS, waFake, waToken } from '../helpers/whatsapp';
import { waitUntil } from '../helpers/wait';

const PHONE = WA_NUMBERS[0]!;

describe('whatsapp cloud api fake', () => {
  const graph = new FakeGraph({ anyTokenPage: '101' });
  const wa = waFake({ read: true });
  graph.mount(wa.router());
  let base: string;
  // A webhook that checks Meta's signature over the exact bytes, as the gateway does.
  const received: ParsedEvent[] = [];
  const ingress = new MetaIngress({ appSecret: APP_SECRET, verifyToken: VERIFY_TOKEN, parsers: new Map([['whatsapp_business_account', parseWhatsAppWebhook]]) });
  const hook = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      try {
        received.push(...ingress.accept(Buffer.concat(chunks), (h) => req.headers[h] as string | undefined, Date.now()).events);
        res.writeHead(200).end('{}');
      } catch (err) {
        res.writeHead(403).end(String(err));
      }
    });
  });
  before(async () => {
    base = await graph.listen();
    await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r));
    wa.setWebhook({ url: `http://127.0.0.1:${(hook.address() as AddressInfo).port}/webhook`, appSecret: APP_SECRET });
  });
  after(async () => {
    await graph.close();
    await wa.close();
    hook.close();
  });
  const call = async (phone: string, body: unknown, token?: string) => {
    const res = await fetch(`${base}/${phone}/messages`, { method: 'POST', headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) }, body: JSON.stringify(body) });
    return { status: res.status, json: (await res.json()) as any };
  };
  const text = { messaging_product: 'whatsapp', recipient_type: 'individual', to: '4915112345', type: 'text', text: { body: 'hi' } };

  test('auth, phone number and body checks answer with Meta’s status codes and error bodies', async () => {
    assert.deepEqual([(await call(PHONE, text)).status, (await call(PHONE, text)).json.error.code], [400, 104], 'no token');
    const bad = await call(PHONE, text, 'EAA-not-a-token');
    assert.deepEqual([bad.status, bad.json.error.code, bad.json.error.type], [401, 190, 'OAuthException']);
    const other = await call(WA_NUMBERS[1]!, text, waToken(PHONE));
    assert.deepEqual([other.status, other.json.error.code, other.json.error.error_subcode], [400, 100, 33], 'a token for another number');
    const long = await call(PHONE, { ...text, text: { body: 'x'.repeat(4_097) } }, waToken(PHONE));
    assert.deepEqual([long.status, long.json.error.code, long.json.error.message], [400, 131009, '(#131009) Parameter value is not valid']);
    assert.match(long.json.error.error_data.details, /Max length: 4096/);
    assert.equal(typeof long.json.error.fbtrace_id, 'string');
    const ok = await call(PHONE, text, waToken(PHONE));
    assert.equal(ok.status, 200);
    assert.deepEqual(ok.json.contacts, [{ input: '4915112345', wa_id: '4915112345' }]);
    assert.match(ok.json.messages[0].id, /^wamid\./);
    // Messenger's Send API still answers on the same base URL.
    const messenger = await fetch(`${base}/me/messages?access_token=page-token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ recipient: { id: 'psid' }, messaging_type: 'RESPONSE', message: { text: 'hi' } }),
    });
    assert.equal(messenger.status, 200);
  });

  test('a reply sent through the channel gets sent, delivered and read statuses, signed, with our callback data; sender actions mark read with the typing indicator', async () => {
    const client = new GraphClient({ baseUrl: base, timeoutMs: 2_000, maxAttempts: 1, backoffBaseMs: 1, backoffMaxMs: 1 });
    const channel = new WhatsAppChannel({ graph: client, numbers: new Map([[PHONE, { id: PHONE, accessToken: waToken(PHONE) }]]) });
    try {
      const to = { channel: 'whatsapp', account: PHONE, user: '4915199999' };
      const about = { id: 'wamid.user1', mid: 'wamid.user1', kind: 'text' as const, ...to, timestamp: Date.now(), receivedAt: Date.now() };
      const [m] = channel.render([{ text: 'Your order shipped' }], to, 'bot').messages;
      const r = await channel.send(m!, { to, ref: { event: 'wamid.user1', index: 0 }, token: '{"mid":"wamid.user1","i":0}', idempotencyKey: 'k', author: 'bot', about });
      assert.match(r.messageId!, /^wamid\./);
      await waitUntil('three statuses received', () => received.filter((p) => p.event.mid === r.messageId).length === 3, 5_000);
      const statuses = received.filter((p) => p.event.mid === r.messageId);
      assert.deepEqual(
        statuses.map((p) => p.event.kind),
        ['echo', 'delivery', 'read'],
      );
      assert.ok(statuses.every((p) => p.confirms?.event === 'wamid.user1' && p.confirms.index === 0 && p.event.user === '4915199999'));
      await channel.senderAction(to, 'seen', about);
      await channel.senderAction(to, 'typing', about);
      assert.deepEqual(
        wa.reads.slice(-2).map((x) => [x.messageId, x.typing]),
        [
          ['wamid.user1', false],
          ['wamid.user1', true],
        ],
      );
    } finally {
      client.close();
    }
  });

  test('dev mode with no configuration serves a WhatsApp number: a user’s message (as the emulator sends it) gets its reply', async () => {
    const app = await startTestApp('wa-dev', { ...redisTargets()[0]!.env });
    try {
      assert.ok(app.fakeWhatsApp, 'the fake runs in dev mode');
      const sent = await app.fakeWhatsApp.sendUserMessage({ user: '4915100000042', name: 'Dev user', text: 'hello dev' });
      assert.equal(sent.status, 200);
      await waitUntil('the reply', () => app.fakeWhatsApp!.messagesTo('4915100000042').length === 1, 10_000);
      const [reply] = app.fakeWhatsApp.messagesTo('4915100000042');
      assert.deepEqual([reply!.phoneNumberId, reply!.text, reply!.token?.mid], [DEV_WHATSAPP_NUMBER.id, 'You said: "hello dev"', sent.wamid]);
      await waitUntil('its statuses back', () => reply!.statuses.length === 2, 5_000);
    } finally {
      await app.stop();
    }
  });
});
