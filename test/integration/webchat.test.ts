/** Web chat through one in-process app (real HTTP, real sockets, real Redis): what a visitor's widget shows. */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import type { PresenceChange } from '../../src/channels/presence';
import { signNotification } from '../../src/channels/webchat/notify';
import { identityHash } from '../../src/channels/webchat/tokens';
import { startTestApp } from '../helpers/app';
import { redisTargets } from '../helpers/env';
import { sleep, waitUntil } from '../helpers/wait';
import { auditShown, channelsFile, IDENTITY_SECRET, NOTIFY_SECRET, online, rawSocket, refusedWith, SITE, SITE_ORIGIN, widget } from '../helpers/webchat';

for (const target of redisTargets()) {
  describe(`web chat on ${target.name} redis`, () => {
    let app: Awaited<ReturnType<typeof startTestApp>>;
    before(async () => {
      app = await startTestApp('webchat', { ...target.env, CHANNELS_FILE: channelsFile('webchat'), FB_PAGE_ACCESS_TOKEN: 'token-any' });
    });
    after(async () => {
      await app?.stop();
    });

    test('a visitor sends three messages and sees each acknowledged and answered, in order', async () => {
      const w = widget(app.url);
      await online(w);
      const sent = ['hello', 'how are you?', 'bye'].map((t) => w.send(t)!);
      await waitUntil('three replies', () => w.entries.filter((x) => x.e.f === 'bot').length === 3, 15_000);
      assert.deepEqual(
        w.entries.filter((x) => x.e.f === 'visitor').map((x) => x.e.text),
        ['hello', 'how are you?', 'bye'],
      );
      assert.deepEqual(
        w.entries.filter((x) => x.e.f === 'bot').map((x) => x.e.body?.text),
        ['You said: "hello"', 'You said: "how are you?"', 'You said: "bye"'],
      );
      assert.deepEqual(auditShown(w.entries, sent), { lost: 0, duplicates: 0, outOfOrder: 0, problems: [] });
      await waitUntil('all acknowledged', () => sent.every((c) => w.delivered?.[c]));
      assert.equal(w.outbox.length, 0);
      w.stop();
    });

    test('a reload (same token, no cursor) shows the same transcript; a resumed socket gets only what follows', async () => {
      const a = widget(app.url);
      await online(a);
      const sent = [a.send('one')!, a.send('two')!];
      await waitUntil('two replies', () => a.entries.filter((x) => x.e.f === 'bot').length === 2, 15_000);
      a.stop();
      const b = widget(app.url, { tokenStore: a.tokens });
      await online(b);
      await waitUntil('history loaded', () => b.entries.length === 4);
      assert.deepEqual(b.entries, a.entries, 'the reloaded widget shows what the first one showed');
      assert.equal(b.visitor, a.visitor);
      sent.push(b.send('three')!);
      await waitUntil('third answered', () => b.entries.length === 6, 15_000);
      assert.deepEqual(auditShown(b.entries, sent), { lost: 0, duplicates: 0, outOfOrder: 0, problems: [] });
      b.stop();
      await sleep(50);
    });
  });
}

describe('web chat on a gateway alone (no worker running)', () => {
  test("the visitor's message shows at once in every tab, acknowledged, before any worker answers", async () => {
    const app = await startTestApp('wcgw', { ...redisTargets()[0]!.env, ROLE: 'gateway', CHANNELS_FILE: channelsFile('wcgw') });
    try {
      const one = widget(app.url);
      await online(one);
      const two = widget(app.url, { tokenStore: one.tokens });
      await online(two, 'a second tab');
      const cid = one.send('is anybody there?')!;
      await waitUntil('shown in both tabs', () => one.entries.length === 1 && two.entries.length === 1, 5_000);
      await waitUntil('acknowledged', () => one.delivered?.[cid] === true, 5_000);
      assert.deepEqual(two.entries, one.entries);
      assert.equal(one.entries[0]!.e.cid, cid);
      one.stop();
      two.stop();
    } finally {
      await app.stop();
    }
  });
});

describe('web chat protocol: limits, refusals, identity, presence, notifications', () => {
  const target = redisTargets()[0]!;
  let app: Awaited<ReturnType<typeof startTestApp>>;
  const notified: { body: any; signature: string | undefined }[] = [];
  let hook: http.Server;
  before(async () => {
    hook = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        notified.push({ body: JSON.parse(body), signature: req.headers['x-webchat-signature'] as string | undefined });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => hook.listen(0, '127.0.0.1', resolve));
    const notifyUrl = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/chat-replies`;
    app = await startTestApp('wcproto', {
      ...target.env,
      CHANNELS_FILE: channelsFile('wcproto', [{ type: 'webchat', id: 'blog', origins: ['https://blog.example'] }], { notifyUrl, notifySecret: NOTIFY_SECRET }),
      FB_PAGE_ACCESS_TOKEN: 'token-any',
    });
  });
  after(async () => {
    await app?.stop();
    await new Promise((r) => hook.close(r));
  });

  const hello = async (opts: Parameters<typeof rawSocket>[1] = {}, frame: Record<string, unknown> = {}) => {
    const s = await rawSocket(app.url, opts);
    s.send({ t: 'hello', v: 1, ...frame });
    return s;
  };

  test('bad frames get an error naming the problem; too many close the socket; the gateway carries on', async () => {
    const s = await rawSocket(app.url);
    s.send({ t: 'msg', id: 'abcdefgh', text: 'before hello' });
    assert.equal((await s.next('error')).code, 'no_hello');
    s.send({ t: 'hello', v: 1 });
    await s.next('welcome');
    s.ws.send(Buffer.from([1, 2, 3]), { binary: true });
    s.send('{not json');
    s.send({ t: 'msg', id: 'x', text: 'id too short' });
    await waitUntil('three errors', () => s.frames.filter((f) => f.t === 'error').length === 4);
    assert.deepEqual(
      s.frames.filter((f) => f.t === 'error').map((f) => f.message),
      ['say hello first: {"t":"hello",…}', 'frames must be text (JSON), not binary', 'frame must be a JSON object', 'msg.id must be 8-64 letters, digits, _ or - (a random id the widget keeps until the message is acknowledged)'],
    );
    for (let i = 0; i < 6; i++) s.send('[]');
    assert.deepEqual(await s.closed, { code: 4400, reason: 'more than 9 bad frames' });
    const big = await hello();
    await big.next('welcome');
    big.send({ t: 'msg', id: 'abcdefgh', text: 'x'.repeat(20_000) });
    assert.equal((await big.closed).code, 1009, 'a frame over 16 KiB closes the socket (message too big)');
    const w = widget(app.url);
    await online(w, 'a new widget served as before');
    w.stop();
  });

  test('refused before the upgrade: unknown site, missing site, an origin the site does not list, another path', async () => {
    assert.equal(await refusedWith(app.url, '?account=nope', SITE_ORIGIN), 404);
    assert.equal(await refusedWith(app.url, '', SITE_ORIGIN), 400);
    assert.equal(await refusedWith(app.url, `?account=${SITE}`, 'https://evil.example'), 403);
    assert.equal(await refusedWith(app.url, '?account=blog', SITE_ORIGIN), 403, "another site's origin");
    const other = await new Promise<number>((resolve) => {
      const ws = new WebSocket(`${app.url.replace('http', 'ws')}/elsewhere`);
      ws.once('unexpected-response', (_q, r) => resolve(r.statusCode ?? 0));
      ws.once('error', () => undefined);
    });
    assert.equal(other, 404);
  });

  test('tokens and identities: forged, foreign or unsigned ones are refused with 4401; our frame needs an allowed embedding page (4403)', async () => {
    const a = await hello({}, { token: 'v1.e30.AAAA' });
    assert.deepEqual(await a.closed, { code: 4401, reason: 'token signature is not valid' });
    const blog = await hello({ site: 'blog', origin: 'https://blog.example' });
    const token = (await blog.next('welcome')).token;
    blog.ws.close();
    const stolen = await hello({}, { token });
    assert.deepEqual(await stolen.closed, { code: 4401, reason: 'token is for another site' });
    const wrong = await hello({}, { identity: { userId: 'alice', userHash: identityHash(IDENTITY_SECRET, 'mallory') } });
    assert.deepEqual(await wrong.closed, { code: 4401, reason: 'identity.userHash does not match userId' });
    // From our own frame (Origin = the gateway's), the page embedding it must be one of the site's.
    const framed = await hello({ origin: app.url }, { origin: 'https://evil.example' });
    assert.equal((await framed.closed).code, 4403);
    const good = await hello({ origin: app.url }, { origin: 'http://localhost:8080' });
    assert.equal((await good.next('welcome')).t, 'welcome');
    good.ws.close();
  });

  test('an identified visitor has one conversation on every device; a widget given a bad identity stops and says so', async () => {
    const identity = { userId: 'alice@shop.example', userHash: identityHash(IDENTITY_SECRET, 'alice@shop.example') };
    const phone = widget(app.url, { identity });
    await online(phone);
    assert.equal(phone.visitor, 'u-alice@shop.example');
    const sent = [phone.send('from my phone')!];
    await waitUntil('answered', () => phone.entries.length === 2, 15_000);
    const laptop = widget(app.url, { identity });
    await online(laptop);
    await waitUntil('history on the laptop', () => laptop.entries.length === 2);
    sent.push(laptop.send('from my laptop')!);
    await waitUntil('both show four entries', () => phone.entries.length === 4 && laptop.entries.length === 4, 15_000);
    assert.deepEqual(laptop.entries, phone.entries);
    assert.deepEqual(auditShown(phone.entries, sent), { lost: 0, duplicates: 0, outOfOrder: 0, problems: [] });
    assert.equal(laptop.tokens.get('token'), undefined, 'an identified token is not stored: signing out on the site makes the visitor anonymous again');
    phone.stop();
    laptop.stop();
    const forged = widget(app.url, { identity: { userId: 'alice@shop.example', userHash: '0'.repeat(64) } });
    await waitUntil('failed', () => forged.status === 'failed');
    assert.equal(forged.error, 'identity.userHash does not match userId');
    forged.stop();
  });

  test('a message sent twice (same id) is shown, queued and answered once; both copies are acknowledged', async () => {
    const s = await hello();
    await s.next('welcome');
    s.send({ t: 'msg', id: 'same-id-123', text: 'once please' });
    s.send({ t: 'msg', id: 'same-id-123', text: 'once please' });
    await waitUntil('two acks', () => s.frames.filter((f) => f.t === 'ack').length === 2);
    await waitUntil('the answer', () => s.frames.some((f) => f.t === 'entry' && f.e.f === 'bot'), 15_000);
    await sleep(300);
    const entries = s.frames.filter((f) => f.t === 'entry');
    assert.deepEqual(
      entries.map((f) => f.e.f),
      ['visitor', 'bot'],
    );
    assert.match(await app.metrics.registry.getSingleMetricAsString('cb_webchat_frames_total'), /type="msg",outcome="duplicate"\} 1/);
    s.ws.close();
  });

  test('limits: 30 messages a minute per visitor (a resend is not counted), 5 sockets per visitor', async () => {
    const s = await hello();
    const { token } = await s.next('welcome');
    for (let i = 0; i < 31; i++) s.send({ t: 'msg', id: `rate-${String(i).padStart(4, '0')}`, text: `n${i}` });
    const limited = await s.next('error');
    assert.equal(limited.code, 'rate_limited');
    assert.equal(limited.id, 'rate-0030');
    assert.ok(limited.retryMs > 0 && limited.retryMs <= 60_000);
    s.send({ t: 'msg', id: 'rate-0000', text: 'n0' });
    await waitUntil('31 acks (30 + the resend)', () => s.frames.filter((f) => f.t === 'ack').length === 31);
    assert.ok(!s.frames.some((f) => f.t === 'ack' && f.id === 'rate-0030'), 'the one over the limit is not acknowledged: the widget sends it again later');
    const more = await Promise.all(Array.from({ length: 4 }, () => hello({}, { token })));
    await Promise.all(more.map((m) => m.next('welcome')));
    const sixth = await hello({}, { token });
    assert.deepEqual(await sixth.closed, { code: 4429, reason: 'at most 5 open sockets per visitor' });
    for (const m of [s, ...more]) m.ws.close();
  });

  test('presence: online, typing and offline reach the admin side live; an agent typing in the admin app reaches the widget', async () => {
    const changes: PresenceChange[] = [];
    const stop = app.webchat!.subscribe((c) => changes.push(c));
    const w = widget(app.url);
    await online(w);
    const ref = { channel: 'webchat', account: SITE, user: w.visitor! };
    assert.deepEqual(await app.webchat!.get(ref), { online: true, typing: false, connections: 1 });
    w.setTyping(true);
    await waitUntil('typing', async () => (await app.webchat!.get(ref)).typing);
    // An agent typing in the admin app (the inbox's typing route, through the channel's typing action).
    const typing = await fetch(`${app.url}/admin/api/conversations/${encodeURIComponent(`webchat:${SITE}:${w.visitor}`)}/typing`, {
      method: 'POST',
      headers: { authorization: `Bearer ${app.adminToken}`, 'content-type': 'application/json' },
      body: '{}',
    });
    assert.equal(typing.status, 202);
    await waitUntil('the widget shows the agent typing', () => w.typing?.by === 'agent');
    w.stop();
    await waitUntil('offline', async () => !(await app.webchat!.get(ref)).online);
    const mine = changes.filter((c) => c.user === ref.user).map((c) => [c.online, c.typing]);
    assert.deepEqual(mine, [
      [true, false],
      [true, true],
      [false, false],
    ]);
    stop();
  });

  test('a visitor away gets replies when back, and the site one signed notification per absence', async () => {
    const w = widget(app.url);
    await online(w);
    w.send('hi, I will be back');
    await waitUntil('answered', () => w.entries.length === 2, 15_000);
    const conversation = `webchat:${SITE}:${w.visitor}`;
    w.stop();
    await waitUntil('offline', async () => !(await app.webchat!.get({ channel: 'webchat', account: SITE, user: w.visitor! })).online);
    const agentReply = (text: string) =>
      fetch(`${app.url}/admin/api/conversations/${encodeURIComponent(conversation)}/reply`, {
        method: 'POST',
        headers: { authorization: `Bearer ${app.adminToken}`, 'content-type': 'application/json' },
        body: JSON.stringify({ text }),
      });
    const before = notified.length;
    assert.equal((await agentReply('Sorry for the wait: your order ships today.')).status, 202);
    assert.equal((await agentReply('Anything else?')).status, 202);
    await waitUntil('a notification', () => notified.length > before, 15_000);
    await sleep(500);
    assert.equal(notified.length, before + 1, 'one notification for the absence, not one per reply');
    const n = notified[before]!;
    assert.equal(n.signature, signNotification(JSON.stringify(n.body), NOTIFY_SECRET));
    assert.deepEqual({ ...n.body, at: undefined }, { type: 'webchat.reply', site: SITE, visitor: w.visitor, conversation, message: 'You have a new reply', preview: 'Sorry for the wait: your order ships today.', at: undefined });
    // Back: both replies are there, from the agent; gone again: the next reply notifies again.
    const back = widget(app.url, { tokenStore: w.tokens });
    await online(back);
    await waitUntil('the replies shown', () => back.entries.length === 4);
    assert.deepEqual(
      back.entries.slice(2).map((x) => [x.e.f, x.e.body?.text]),
      [
        ['agent', 'Sorry for the wait: your order ships today.'],
        ['agent', 'Anything else?'],
      ],
    );
    back.stop();
    await waitUntil('offline', async () => !(await app.webchat!.get({ channel: 'webchat', account: SITE, user: w.visitor! })).online);
    await agentReply('One more thing.');
    await waitUntil('a second notification', () => notified.length === before + 2, 15_000);
  });
});
