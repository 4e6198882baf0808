/** The widget's client (widget/client.js) over a scripted socket: what it shows, what it resends, how it resumes. */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { test } from 'node:test';
import { WebchatClient } from '../../src/dev/fake-webchat';

/** A socket the test plays the gateway on: frames the client sent, and a way to answer. */
class ScriptedSocket {
  static all: ScriptedSocket[] = [];
  readonly sent: any[] = [];
  onopen?: () => void;
  onmessage?: (ev: { data: string }) => void;
  onclose?: (ev: { code: number; reason: string }) => void;
  onerror?: () => void;
  constructor(readonly url: string) {
    ScriptedSocket.all.push(this);
    queueMicrotask(() => this.onopen?.());
  }
  send(s: string): void {
    this.sent.push(JSON.parse(s));
  }
  close(): void {}
  frame(f: unknown): void {
    this.onmessage?.({ data: JSON.stringify(f) });
  }
  drop(code = 1006, reason = ''): void {
    this.onclose?.({ code, reason });
  }
}

const tick = () => new Promise((r) => setImmediate(r));
function client() {
  ScriptedSocket.all = [];
  const stored = new Map<string, string>();
  const timers: (() => void)[] = [];
  const c = new WebchatClient({
    url: 'ws://gw/webchat/ws?account=shop',
    origin: 'https://shop.example',
    WebSocket: ScriptedSocket,
    crypto,
    tokenStore: { get: (k: string) => stored.get(k), set: (k: string, v: string) => void stored.set(k, v) },
    outboxStore: { get: () => null, set: () => undefined },
    setTimeout: (fn: () => void) => (timers.push(fn), timers.length),
    clearTimeout: () => undefined,
  });
  return { c, stored, timers, socket: () => ScriptedSocket.all[ScriptedSocket.all.length - 1]! };
}
const welcome = (extra = {}) => ({ t: 'welcome', v: 1, site: 'Shop', visitor: 'v-1', identified: false, token: 'tok-1', from: '0-0', truncated: false, seen: null, limits: { maxText: 2000 }, ...extra });
const visitorEntry = (id: string, cid: string) => ({ t: 'entry', id, e: { f: 'visitor', cid, kind: 'text', text: cid } });
const reply = (id: string, re: string) => ({ t: 'entry', id, e: { f: 'bot', body: { text: `re ${re}` }, re, n: 0, rid: `v-1.${re}#0` } });

test('an entry is shown once, in the transcript order; a message waits in the outbox until its entry arrives', async () => {
  const { c, stored, socket } = client();
  c.connect();
  await tick();
  assert.deepEqual(socket().sent, [{ t: 'hello', v: 1, origin: 'https://shop.example' }]);
  socket().frame(welcome());
  assert.equal(stored.get('token'), 'tok-1', 'the token is kept for the next visit');
  const cid = c.send('hello')!;
  assert.deepEqual(socket().sent[1], { t: 'msg', id: cid, kind: 'text', text: 'hello' });
  assert.deepEqual(
    c.outbox.map((m) => m.cid),
    [cid],
  );
  socket().frame({ t: 'ack', id: cid });
  socket().frame(visitorEntry('100-0', cid));
  socket().frame(visitorEntry('100-0', cid));
  socket().frame(reply('101-0', cid));
  socket().frame(visitorEntry('99-5', 'older'));
  assert.deepEqual(
    c.entries.map((x) => x.id),
    ['100-0', '101-0'],
    'a repeat and an entry behind the last one shown are not shown',
  );
  assert.deepEqual(c.outbox, []);
  assert.equal(c.seenUpTo(), 1, 'a reply marks what came before as seen');
});

test('after a cut, the client resumes after the last entry shown and resends what was not acknowledged, in order', async () => {
  const { c, timers, socket } = client();
  c.connect();
  await tick();
  socket().frame(welcome());
  const a = c.send('one')!;
  const b = c.send('two')!;
  socket().frame({ t: 'ack', id: a });
  socket().frame(visitorEntry('200-0', a));
  socket().drop();
  assert.equal(c.status, 'reconnecting');
  timers.pop()!(); // the reconnect timer
  const third = c.send('three, while reconnecting')!;
  await tick();
  assert.deepEqual(socket().sent[0], { t: 'hello', v: 1, origin: 'https://shop.example', token: 'tok-1', after: '200-0' });
  socket().frame(welcome({ from: '200-0' }));
  assert.deepEqual(
    socket()
      .sent.slice(1)
      .map((f) => f.id),
    [b, third],
    'the unacknowledged ones, in the order typed',
  );
});

test('a refused token is dropped and the widget starts afresh; a refused identity or page stops it', async () => {
  const { c, stored, timers, socket } = client();
  stored.set('token', 'stale');
  c.connect();
  await tick();
  assert.equal(socket().sent[0].token, 'stale');
  socket().drop(4401, 'token signature is not valid');
  assert.equal(stored.get('token'), '');
  timers.pop()!(); // the reconnect timer
  await tick();
  assert.equal(socket().sent[0].token, undefined, 'no token: a new visitor');
  socket().drop(4403, 'site shop does not allow the widget on https://evil.example');
  assert.equal(c.status, 'failed');
  assert.equal(c.error, 'site shop does not allow the widget on https://evil.example');
});

test('rate limited: kept and sent again after the time the gateway gave', async () => {
  const { c, timers, socket } = client();
  c.connect();
  await tick();
  socket().frame(welcome());
  const cid = c.send('one too many')!;
  socket().frame({ t: 'error', code: 'rate_limited', id: cid, retryMs: 5000, message: 'at most 30 messages a minute' });
  assert.equal(c.outbox.length, 1);
  timers.pop()!();
  assert.deepEqual(
    socket()
      .sent.filter((f) => f.t === 'msg')
      .map((f) => f.id),
    [cid, cid],
  );
});
