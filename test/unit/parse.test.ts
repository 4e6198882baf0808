import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isAnswered, WebhookInputError } from '../../src/channels/event';
import { recordOfEvent } from '../../src/chatlog/records';
import { parseWebhook } from '../helpers/fb';

const P = '1000';
const U = '2000';
const base = { sender: { id: U }, recipient: { id: P }, timestamp: 1_700_000_000_000 };
const wrap = (...messaging: unknown[]) => ({ object: 'page', entry: [{ id: P, time: 1, messaging }] });
const one = (ev: unknown) => {
  const r = parseWebhook(wrap(ev), 5);
  assert.equal(r.events.length, 1);
  return r.events[0]!;
};

test('text, quick reply, reply_to and postback are normalised with their payloads', () => {
  const t = one({ ...base, message: { mid: 'm1', text: 'hi', reply_to: { mid: 'm0' } } });
  assert.deepEqual(t.event, { id: 'm1', mid: 'm1', kind: 'text', channel: 'messenger', account: P, user: U, timestamp: base.timestamp, receivedAt: 5, text: 'hi', replyTo: 'm0' });
  const q = one({ ...base, message: { mid: 'm2', text: 'Red', quick_reply: { payload: 'COLOR_RED' } } });
  assert.equal(q.event.kind, 'quick_reply');
  assert.equal(q.event.payload, 'COLOR_RED');
  const pb = one({ ...base, postback: { title: 'Get Started', payload: 'GET_STARTED', mid: 'm3' } });
  assert.equal(pb.event.kind, 'postback');
  assert.deepEqual([pb.event.id, pb.event.payload, pb.event.title], ['m3', 'GET_STARTED', 'Get Started']);
  assert.ok(isAnswered(t.event) && isAnswered(q.event) && isAnswered(pb.event));
  // The chatlog (and so the admin viewer) shows the button the user tapped, with its payload beside it.
  assert.deepEqual(pick(recordOfEvent(pb.event)), { kind: 'postback', text: 'Get Started', payload: 'GET_STARTED' });
  assert.deepEqual(pick(recordOfEvent(q.event)), { kind: 'quick_reply', text: 'Red', payload: 'COLOR_RED' });
});

const pick = (r: ReturnType<typeof recordOfEvent>) => (r.t === 'msg' ? { kind: r.kind, text: r.text, payload: r.payload } : r);

test('every attachment type keeps its kind and payload', () => {
  for (const type of ['image', 'video', 'audio', 'file', 'fallback']) {
    const e = one({ ...base, message: { mid: `m-${type}`, attachments: [{ type, payload: { url: `https://cdn/x.${type}` } }] } }).event;
    assert.equal(e.kind, type);
    assert.equal(e.attachments?.[0]?.url, `https://cdn/x.${type}`);
  }
  const loc = one({ ...base, message: { mid: 'm-loc', attachments: [{ type: 'location', title: 'Pin', payload: { coordinates: { lat: 48.85, long: 2.35 } } }] } }).event;
  assert.deepEqual(loc.attachments?.[0], { type: 'location', title: 'Pin', coordinates: { lat: 48.85, long: 2.35 } });
  const sticker = one({ ...base, message: { mid: 'm-st', sticker_id: 369239263222822, attachments: [{ type: 'image', payload: { url: 'https://cdn/like.png', sticker_id: 369239263222822 } }] } }).event;
  assert.equal(sticker.kind, 'sticker');
});

test('echoes, receipts, reactions, referrals, opt-ins and standby events are recorded but not answered', () => {
  const echo = one({ sender: { id: P }, recipient: { id: U }, timestamp: 1, message: { is_echo: true, app_id: 7, mid: 'm-e', text: 'from inbox' } });
  assert.equal(echo.event.kind, 'echo');
  assert.deepEqual([echo.event.account, echo.event.user], [P, U], 'an echo belongs to the page↔user conversation');
  assert.equal(echo.queue, true, 'echoes from elsewhere (page inbox) are queued for the record');
  const delivery = one({ ...base, delivery: { mids: ['m1'], watermark: 123 } });
  assert.deepEqual([delivery.event.kind, delivery.event.watermark, delivery.event.mids], ['delivery', 123, ['m1']]);
  const read = one({ ...base, read: { watermark: 456 } });
  const reaction = one({ ...base, reaction: { reaction: 'love', emoji: '❤️', action: 'react', mid: 'm1' } });
  const optin = one({ recipient: { id: P }, timestamp: 1, optin: { ref: 'r', user_ref: 'ref123' } });
  assert.equal(optin.event.user, 'ref123');
  for (const e of [echo, delivery, read, reaction, optin]) assert.equal(isAnswered(e.event), false, e.event.kind);
  const referral = one({ ...base, referral: { ref: 'summer', source: 'SHORTLINK', type: 'OPEN_THREAD' } });
  assert.equal(referral.event.referral?.ref, 'summer');
  const standby = parseWebhook({ object: 'page', entry: [{ id: P, time: 1, standby: [{ ...base, message: { mid: 'm-s', text: 'to the other app' } }] }] }).events[0]!;
  assert.equal(standby.event.standby, true);
  assert.equal(isAnswered(standby.event), false);
});

test('an echo of our own reply confirms that reply instead of being queued', () => {
  const e = one({ sender: { id: P }, recipient: { id: U }, timestamp: 1, message: { is_echo: true, app_id: 7, mid: 'm-out', text: 'You said', metadata: JSON.stringify({ mid: 'm-in', i: 0 }) } });
  assert.deepEqual(e.confirms, { event: 'm-in', index: 0 });
  assert.equal(e.queue, false);
});

test('events without a mid get a stable id; different events get different ids', () => {
  const ev = { ...base, read: { watermark: 456 } };
  const a = parseWebhook(wrap(ev)).events[0]!.event.id;
  const b = parseWebhook(wrap(ev)).events[0]!.event.id;
  const c = parseWebhook(wrap({ ...base, read: { watermark: 457 } })).events[0]!.event.id;
  assert.equal(a, b);
  assert.notEqual(a, c);
  assert.match(a, /^h:[0-9a-f]{40}$/);
});

test('unknown kinds are reported, not fatal; known events of the same POST still come through', () => {
  // (Handover Protocol events are known since the agent inbox: test/unit/handover.test.ts.)
  const r = parseWebhook(wrap({ ...base, app_roles: { 1: ['primary_receiver'] } }, { ...base, message: { mid: 'm9', text: 'ok' } }));
  assert.equal(r.events.length, 1);
  assert.deepEqual(
    r.unknown.map((u) => u.keys),
    [['app_roles']],
  );
});

test('bad input is rejected with a message naming the problem', () => {
  const bad: [unknown, RegExp][] = [
    [[], /body must be a JSON object/],
    [{ object: 'instagram', entry: [] }, /object must be one of "page", got "instagram"/],
    [{ object: 'page' }, /entry must be an array/],
    [wrap({ recipient: { id: P }, timestamp: 1, message: { mid: 'x', text: 'a' } }), /entry\[0\]\.messaging\[0\]\.sender is required/],
    [wrap({ sender: { id: U }, timestamp: 1, message: { mid: 'x', text: 'a' } }), /recipient is required/],
    [wrap({ sender: { id: 'a{b}' }, recipient: { id: P }, message: { mid: 'x', text: 'a' } }), /sender\.id must be an id/],
    [wrap({ ...base, message: { text: 'no mid' } }), /message\.mid is required/],
    [wrap({ ...base, timestamp: 'yesterday', message: { mid: 'x', text: 'a' } }), /timestamp must be a number/],
  ];
  for (const [input, msg] of bad)
    assert.throws(
      () => parseWebhook(input),
      (e: unknown) => e instanceof WebhookInputError && msg.test(e.message),
      String(msg),
    );
});
