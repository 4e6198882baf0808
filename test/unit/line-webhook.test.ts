/** LINE's webhook side: the signature over the exact bytes, the destination's secret, and every event type parsed from the documented shape. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isAnswered, WebhookInputError } from '../../src/channels/event';
import { LineIngress } from '../../src/channels/line/ingress';
import { signLine, verifyLineSignature } from '../../src/channels/line/signature';
import { recordOfEvent } from '../../src/chatlog/records';
import { fixtures, LINE_BOT, LINE_CHANNELS, LINE_SECRET, lineBody, lineUser } from '../helpers/line';

const U = lineUser('alice');
const seen: { skipped: unknown[]; redelivered: number } = { skipped: [], redelivered: 0 };
const ingress = new LineIngress(LINE_CHANNELS, { skipped: (s) => seen.skipped.push(s), redelivered: (n) => (seen.redelivered += n) });

function accept(raw: string | Buffer, signature = signLine(raw, LINE_SECRET)) {
  const headers: Record<string, string> = { 'x-line-signature': signature };
  return ingress.accept(Buffer.from(raw), (n) => headers[n], 7);
}
const rejects = (fn: () => unknown, status: number, re: RegExp) => assert.throws(fn, (e: unknown) => e instanceof WebhookInputError && e.status === status && re.test(e.message));
const one = (ev: unknown) => {
  const r = accept(lineBody([ev]));
  assert.equal(r.events.length, 1, JSON.stringify(r));
  return r.events[0]!.event;
};

test('X-Line-Signature is the base64 HMAC-SHA256 of the exact bytes: re-serialised, re-encoded or tampered bytes fail', () => {
  const raw = Buffer.from('{"destination":"U1","events":[{"text":"héllo 👋 a/b"}]}');
  const sig = signLine(raw, LINE_SECRET);
  assert.match(sig, /^[A-Za-z0-9+/]{43}=$/, 'base64 of a 32-byte digest');
  assert.deepEqual(verifyLineSignature(raw, sig, LINE_SECRET), { ok: true });
  assert.equal(verifyLineSignature(Buffer.from(JSON.stringify(JSON.parse(raw.toString()), null, 1)), sig, LINE_SECRET).ok, false, 'the same JSON, other bytes');
  assert.equal(verifyLineSignature(Buffer.from(raw.toString().replace('é', '\\u00e9')), sig, LINE_SECRET).ok, false, 'escaped non-ASCII is other bytes');
  const tampered = Buffer.from(raw);
  tampered.writeUInt8(tampered[tampered.length - 3]! ^ 1, tampered.length - 3);
  assert.equal(verifyLineSignature(tampered, sig, LINE_SECRET).ok, false);
  assert.equal(verifyLineSignature(raw, sig, LINE_CHANNELS[1]!.channelSecret).ok, false, "another channel's secret");
  assert.equal(verifyLineSignature(raw, Buffer.from(sig, 'base64').toString('hex'), LINE_SECRET).ok, false, 'hex is not base64');
  assert.deepEqual(verifyLineSignature(raw, undefined, LINE_SECRET), { ok: false, reason: 'missing X-Line-Signature header' });
});

test('the destination picks the secret: each channel verifies with its own; an unknown destination or a wrong signature is 403; the console\'s empty "Verify" body is accepted', () => {
  const other = LINE_CHANNELS[1]!;
  const raw = lineBody([fixtures.text(U, 1, 'ev-other', 'hi')], other.id);
  assert.equal(accept(raw, signLine(raw, other.channelSecret)).events[0]!.event.account, other.id);
  rejects(() => accept(raw, signLine(raw, LINE_SECRET)), 403, /signature does not match/);
  const stranger = lineBody([], `U${'f'.repeat(32)}`);
  rejects(() => accept(stranger), 403, /is not a LINE channel this deployment serves/);
  assert.deepEqual(accept(lineBody([])), { events: [], unknown: [] }, 'Verify: signed, no events, 200');
  rejects(() => accept('{"destination":'), 400, /malformed JSON/);
  rejects(() => accept('{"events":[]}'), 400, /destination is required/);
  rejects(() => accept(JSON.stringify({ destination: LINE_BOT, events: {} })), 400, /events must be an array/);
});

test('a malformed event rejects the whole POST, naming the path', () => {
  const good = fixtures.text(U, 1, 'ok-1', 'fine');
  rejects(() => accept(lineBody([good, { ...good, webhookEventId: undefined }])), 400, /events\[1\]\.webhookEventId is required/);
  rejects(() => accept(lineBody([{ ...good, timestamp: 'soon' }])), 400, /events\[0\]\.timestamp/);
  rejects(() => accept(lineBody([{ ...good, mode: 'sleeping' }])), 400, /events\[0\]\.mode/);
  rejects(() => accept(lineBody([{ ...good, deliveryContext: { isRedelivery: 'yes' } }])), 400, /isRedelivery must be a boolean/);
  rejects(() => accept(lineBody([{ ...good, message: { type: 'text', text: 'no id' } }])), 400, /events\[0\]\.message\.id is required/);
  rejects(() => accept(lineBody([{ ...good, source: { type: 'user', userId: 'a:b' } }])), 400, /userId/);
});

test('a text message: dedupe id = webhookEventId, message id kept, order by timestamp (ms), user = source.userId', () => {
  const ev = fixtures.text(U, 1, '01FZ74A0TDDPYRVKNK77XKC3ZR', 'Hello, world!') as ReturnType<typeof fixtures.text> & { message: { id: string } };
  const e = one(ev);
  assert.deepEqual(e, { id: '01FZ74A0TDDPYRVKNK77XKC3ZR', mid: ev.message.id, kind: 'text', channel: 'line', account: LINE_BOT, user: U, timestamp: ev.timestamp, receivedAt: 7, text: 'Hello, world!' });
  assert.ok(isAnswered(e));
});

test('media, file, location and sticker messages keep what identifies their content', () => {
  assert.deepEqual(one(fixtures.image(U, 1, 'e-img')).attachments, [{ type: 'image', mediaId: '354718705033693859' }]);
  const video = one(fixtures.externalVideo(U, 2, 'e-vid'));
  assert.deepEqual([video.kind, video.attachments], ['video', [{ type: 'video', mediaId: '325708', url: 'https://example.com/original.mp4' }]]);
  assert.equal(one(fixtures.audio(U, 3, 'e-aud')).kind, 'audio');
  assert.deepEqual(one(fixtures.file(U, 4, 'e-file')).attachments, [{ type: 'file', mediaId: '325710', title: 'file.txt' }]);
  const loc = one(fixtures.location(U, 5, 'e-loc'));
  assert.deepEqual(loc.attachments?.[0]?.coordinates, { lat: 35.67966, long: 139.73669 });
  assert.match(loc.attachments?.[0]?.title ?? '', /my location, 1-3 Kioicho/);
  const sticker = one(fixtures.sticker(U, 6, 'e-stk'));
  assert.deepEqual([sticker.kind, sticker.attachments?.[0]?.stickerId], ['sticker', '1']);
  for (const e of [loc, sticker, video]) assert.ok(isAnswered(e), e.kind);
});

test("a postback carries its data as the payload, and a date picker's answer as text", () => {
  const pb = one(fixtures.postback(U, 1, 'e-pb', 'INTENT:order.status'));
  assert.deepEqual([pb.kind, pb.payload, pb.text], ['postback', 'INTENT:order.status', undefined]);
  const picked = one(fixtures.postback(U, 2, 'e-date', 'action=book', { date: '2024-05-01' }));
  assert.deepEqual([picked.payload, picked.text], ['action=book', '2024-05-01']);
  const rec = recordOfEvent(picked);
  assert.ok(rec.t === 'msg');
  assert.deepEqual([rec.kind, rec.text, rec.payload], ['postback', '2024-05-01', 'action=book'], 'the chatlog keeps the answer and the data');
});

test('follow, unfollow, unsend, video viewed, beacon, account link and membership are recorded, never answered', () => {
  const cases = [
    [fixtures.follow(U, 1, 'f1'), 'optin', { type: 'follow', ref: 'added' }],
    [fixtures.follow(U, 2, 'f2', true), 'optin', { type: 'follow', ref: 'unblocked' }],
    [fixtures.unfollow(U, 3, 'uf'), 'optin', { type: 'unfollow' }],
    [fixtures.videoPlayComplete(U, 4, 'vp'), 'optin', { type: 'videoPlayComplete', ref: 'track-id' }],
    [fixtures.beacon(U, 5, 'bc'), 'optin', { type: 'beacon', ref: 'd41d8cd98f', payload: 'enter' }],
    [fixtures.accountLink(U, 6, 'al'), 'optin', { type: 'accountLink', ref: 'xxxxxxxxxxxxxxx', payload: 'ok' }],
    [fixtures.membership(U, 7, 'ms'), 'optin', { type: 'membership', ref: '3189', payload: 'joined' }],
  ] as const;
  for (const [ev, kind, optin] of cases) {
    const e = one(ev);
    assert.deepEqual([e.kind, e.optin], [kind, optin], String(ev.type));
    assert.equal(isAnswered(e), false, String(ev.type));
  }
  const unsend = one(fixtures.unsend(U, 8, 'us', '325708'));
  assert.deepEqual([unsend.kind, unsend.reaction, isAnswered(unsend)], ['reaction', { action: 'unsend', mid: '325708' }, false]);
});

test('standby (another module channel owns the chat) is recorded, not answered; redeliveries are counted and keep their id', () => {
  const e = one({ ...fixtures.text(U, 1, 'sb', 'hi'), mode: 'standby' });
  assert.equal(e.standby, true);
  assert.equal(isAnswered(e), false);
  const before = seen.redelivered;
  const again = one({ ...fixtures.text(U, 2, 'rd-1', 'again'), deliveryContext: { isRedelivery: true } });
  assert.equal(again.id, 'rd-1', 'the same webhookEventId: the dedupe drops it if it was queued');
  assert.equal(seen.redelivered - before, 1);
});

test('group and multi-person chats, channel events and unknown types are skipped or counted, never fatal', () => {
  seen.skipped.length = 0;
  const group = 'C' + 'a'.repeat(32);
  const r = accept(
    lineBody([
      fixtures.join(group, 1, 'j'),
      fixtures.memberJoined(group, U, 2, 'mj'),
      fixtures.groupText(group, U, 3, 'gt', 'hi all'),
      fixtures.roomText('R' + 'b'.repeat(32), U, 4, 'rt', 'hi room'),
      fixtures.leave(group, 5, 'l'),
      { ...fixtures.unfollow(U, 6, 'act'), type: 'activated', chatControl: { expireAt: 1 } },
      { ...fixtures.unfollow(U, 7, 'new'), type: 'somethingNew' },
      { ...fixtures.text(U, 8, 'nm', ''), message: { id: '1', type: 'imagemap' } },
      fixtures.text(U, 9, 'still', 'still answered'),
    ]),
  );
  assert.deepEqual(
    r.events.map((p) => p.event.id),
    ['still'],
  );
  assert.deepEqual(
    r.unknown.map((u) => u.path),
    ['events[6]', 'events[7]'],
  );
  assert.deepEqual(
    seen.skipped.map((s) => (s as { reason: string }).reason),
    ['group', 'group', 'group', 'room', 'group', 'channel_event'],
  );
});
