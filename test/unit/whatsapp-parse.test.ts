/** WhatsApp webhooks as the gateway reads them: every documented message type and status, signed over the exact bytes, and bad input refused with the path named. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { WebhookInputError } from '../../src/channels/event';
import { encodeLikeFacebook, sign } from '../../src/channels/meta/signature';
import { APP_SECRET, at } from '../helpers/fb';
import { parseWa, secs, waBody, waChange, waStatus, waText } from '../helpers/whatsapp';
import { MetaIngress } from '../../src/channels/meta/ingress';
import { parseWhatsAppWebhook } from '../../src/channels/whatsapp/parse';

const PHONE = '106540352242922';
const USER = '16505551234';
const WAMID = 'wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=';
const msg = (extra: Record<string, unknown>, id = WAMID) => ({ from: USER, id, timestamp: secs(1), ...extra });
const one = (m: Record<string, unknown>) => {
  const r = parseWa(waBody(waChange(PHONE, { messages: [m], names: { [USER]: 'Kerry Fisher' } })));
  assert.deepEqual(r.unknown, []);
  assert.equal(r.events.length, 1);
  return r.events[0]!;
};

test('a text message: the phone number id is the account, the wa_id the user, the wamid the dedupe id; seconds become ms; the profile name comes along', () => {
  const p = one(waText(USER, WAMID, 1, 'Where is my order? — ünïcødé'));
  assert.equal(p.queue, true);
  assert.equal(p.confirms, undefined);
  const e = p.event;
  assert.deepEqual(
    { id: e.id, mid: e.mid, kind: e.kind, channel: e.channel, account: e.account, user: e.user, text: e.text, profileName: e.profileName },
    { id: WAMID, mid: WAMID, kind: 'text', channel: 'whatsapp', account: PHONE, user: USER, text: 'Where is my order? — ünïcødé', profileName: 'Kerry Fisher' },
  );
  assert.equal(e.timestamp, Math.floor(at(1) / 1000) * 1000, 'WhatsApp times are seconds');
});

test('taps on our reply buttons and list rows come back as quick replies (payload = the id); a template button as a postback', () => {
  const b = one(msg({ context: { from: '15550783881', id: 'wamid.ours' }, type: 'interactive', interactive: { type: 'button_reply', button_reply: { id: 'INTENT:order.status', title: 'Track my order' } } })).event;
  assert.deepEqual([b.kind, b.payload, b.text, b.title, b.replyTo], ['quick_reply', 'INTENT:order.status', 'Track my order', 'Track my order', 'wamid.ours']);
  const l = one(msg({ type: 'interactive', interactive: { type: 'list_reply', list_reply: { id: 'row-7', title: 'Express', description: 'Next day' } } })).event;
  assert.deepEqual([l.kind, l.payload, l.text], ['quick_reply', 'row-7', 'Express']);
  const t = one(msg({ context: { from: '15550783881', id: 'wamid.tpl' }, type: 'button', button: { text: 'No', payload: 'No-Button-Payload' } })).event;
  assert.deepEqual([t.kind, t.payload, t.title], ['postback', 'No-Button-Payload', 'No']);
});

test('media arrive as a media id to download (no URL), with caption or file name; stickers, locations, contacts and reactions have their kinds', () => {
  const img = one(msg({ type: 'image', image: { caption: 'my parcel', mime_type: 'image/jpeg', sha256: 'abc', id: '1479537139650973' } })).event;
  assert.deepEqual([img.kind, img.text, img.attachments], ['image', 'my parcel', [{ type: 'image', mediaId: '1479537139650973', title: 'my parcel' }]]);
  const doc = one(msg({ type: 'document', document: { filename: 'invoice.pdf', mime_type: 'application/pdf', sha256: 'x', id: '555' } })).event;
  assert.deepEqual([doc.kind, doc.attachments], ['file', [{ type: 'file', mediaId: '555', title: 'invoice.pdf' }]]);
  for (const type of ['video', 'audio', 'sticker']) {
    const e = one(msg({ type, [type]: { mime_type: 'x/y', sha256: 'h', id: `id-${type}`, ...(type === 'audio' ? { voice: true } : {}) } })).event;
    assert.deepEqual([e.kind, e.attachments?.[0]?.mediaId], [type, `id-${type}`]);
  }
  const loc = one(msg({ type: 'location', location: { latitude: 52.5163, longitude: 13.3777, name: 'Pariser Platz', address: 'Berlin' } })).event;
  assert.deepEqual([loc.kind, loc.attachments], ['location', [{ type: 'location', coordinates: { lat: 52.5163, long: 13.3777 }, title: 'Pariser Platz' }]]);
  const card = one(msg({ type: 'contacts', contacts: [{ name: { formatted_name: 'Barbara Johnson', first_name: 'Barbara' }, phones: [{ phone: '+1 555 0100', wa_id: '15550100', type: 'HOME' }] }] })).event;
  assert.deepEqual([card.kind, card.attachments], ['contact', [{ type: 'contact', title: 'Barbara Johnson' }]]);
  const react = one(msg({ type: 'reaction', reaction: { message_id: 'wamid.ours', emoji: '👍' } })).event;
  assert.deepEqual([react.kind, react.reaction], ['reaction', { emoji: '👍', action: 'react', mid: 'wamid.ours' }]);
  const undo = one(msg({ type: 'reaction', reaction: { message_id: 'wamid.ours', emoji: '' } })).event;
  assert.deepEqual(undo.reaction, { action: 'unreact', mid: 'wamid.ours' });
  const ad = one(msg({ type: 'text', text: { body: 'Hi!' }, referral: { source_url: 'https://fb.me/x', source_id: 'ADID', source_type: 'ad', headline: 'Sale', media_type: 'image', ctwa_clid: 'c' } })).event;
  assert.deepEqual(ad.referral, { source: 'ad', ref: 'ADID', type: 'image' });
});

test('unsupported messages, other webhook fields and account-level errors are counted as unknown, never fatal', () => {
  const r = parseWa({
    object: 'whatsapp_business_account',
    entry: [
      {
        id: '1',
        changes: [
          waChange(PHONE, {
            messages: [
              msg({
                type: 'unsupported',
                errors: [{ code: 131051, title: 'Message type unknown', message: 'Message type unknown', error_data: { details: 'Message type is currently not supported.' } }],
                unsupported: { type: 'poll_creation' },
              }),
              waText(USER, 'wamid.ok', 2, 'still here'),
            ],
          }),
        ],
      },
      {
        id: '1',
        changes: [
          { value: { phone_number: '15550783881', event: 'VERIFIED_ACCOUNT' }, field: 'account_update' },
          waChange(PHONE, { errors: [{ code: 130429, title: 'Rate limit hit', message: 'Rate limit hit', error_data: { details: 'too many messages' } }] }),
        ],
      },
    ],
  });
  assert.deepEqual(
    r.events.map((e) => e.event.id),
    ['wamid.ok'],
  );
  assert.deepEqual(
    r.unknown.map((u) => [u.path, u.keys]),
    [
      ['entry[0].changes[0].value.messages[0]', ['unsupported', 'errors']],
      ['entry[1].changes[0]', ['account_update']],
      ['entry[1].changes[1].value.errors', ['errors']],
    ],
  );
});

test('statuses carrying our callback data confirm the reply they name; delivered, read and failed are also receipts; none needs a worker; each has its own dedupe id', () => {
  const token = JSON.stringify({ mid: WAMID, i: 1 });
  const out = 'wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI5QTNDQTVCM0Q0Q0Q2RTY3RTcA';
  const r = parseWa(
    waBody(
      waChange(PHONE, {
        statuses: [
          waStatus(USER, out, 'sent', 5, token),
          waStatus(USER, out, 'delivered', 6, token),
          waStatus(USER, out, 'read', 7, token),
          waStatus(USER, 'wamid.failed1', 'failed', 8, token, [
            { code: 131047, title: 'Re-engagement message', message: 'Re-engagement message', error_data: { details: 'more than 24 hours' }, href: 'https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/' },
          ]),
        ],
      }),
    ),
  );
  assert.deepEqual(r.unknown, []);
  assert.deepEqual(
    r.events.map((p) => [p.event.id, p.event.kind, p.queue]),
    [
      [`${out}:sent`, 'echo', false],
      [`${out}:delivered`, 'delivery', false],
      [`${out}:read`, 'read', false],
      ['wamid.failed1:failed', 'failed', false],
    ],
  );
  for (const p of r.events) {
    assert.deepEqual(p.confirms, { event: WAMID, index: 1 });
    assert.equal(p.event.user, USER);
    assert.equal(p.event.account, PHONE);
  }
  assert.equal(r.events[0]!.event.mid, out, 'the confirmation names the wamid: its outbound row merges with the worker’s');
  assert.deepEqual(r.events[1]!.event.mids, [out]);
  assert.equal(r.events[1]!.event.timestamp, Number(secs(6)) * 1000);
  assert.equal(r.events[3]!.event.error, '131047: Re-engagement message');
});

test('statuses of messages this deployment did not send (no callback data of ours) confirm nothing', () => {
  const r = parseWa(waBody(waChange(PHONE, { statuses: [waStatus(USER, 'wamid.other', 'delivered', 5), waStatus(USER, 'wamid.other', 'sent', 5, 'crm-campaign-42'), waStatus(USER, 'wamid.other', 'deleted', 6)] })));
  assert.deepEqual(
    r.events.map((p) => [p.event.kind, p.queue, p.confirms]),
    [
      ['delivery', false, undefined],
      ['echo', false, undefined],
    ],
  );
  assert.deepEqual(
    r.unknown.map((u) => u.keys),
    [['status:deleted']],
    'a status we have no kind for is counted',
  );
});

test('bad input is refused whole, naming the path; a bad signature is a 403', () => {
  const bad: [unknown, RegExp][] = [
    [{ object: 'whatsapp_business_account' }, /^entry must be an array/],
    [{ object: 'whatsapp_business_account', entry: [{ id: '1' }] }, /entry\[0\]\.changes must be an array/],
    [waBody({ value: {} }), /entry\[0\]\.changes\[0\]\.field is required/],
    [waBody({ value: { messaging_product: 'whatsapp' }, field: 'messages' }), /changes\[0\]\.value\.metadata is required/],
    [waBody(waChange('not a phone id!', { messages: [] })), /metadata\.phone_number_id must be/],
    [waBody(waChange(PHONE, { messages: [waText(USER, WAMID, 1, 'ok'), { ...waText(USER, 'wamid.2', 2, 'x'), timestamp: 'yesterday' }] })), /messages\[1\]\.timestamp must be the time in seconds/],
    [waBody(waChange(PHONE, { messages: [{ ...waText(USER, WAMID, 1, 'x'), text: {} }] })), /messages\[0\]\.text\.body must be a string/],
    [waBody(waChange(PHONE, { messages: [{ ...waText(USER, WAMID, 1, 'x'), id: 'has:colon' }] })), /messages\[0\]\.id must be a WhatsApp message id/],
    [waBody(waChange(PHONE, { messages: [msg({ type: 'image', image: { caption: 'no id' } })] })), /messages\[0\]\.image\.id is required/],
    [waBody(waChange(PHONE, { statuses: [{ id: WAMID, status: 'read', timestamp: secs(1) }] })), /statuses\[0\]\.recipient_id is required/],
    [waBody(waChange(PHONE, { statuses: [waStatus(USER, WAMID, 'read', 1), 'x' as never] })), /statuses\[1\] must be an object/],
  ];
  for (const [body, re] of bad) {
    assert.throws(
      () => parseWa(body),
      (err: unknown) => err instanceof WebhookInputError && err.status === 400 && re.test(err.message),
      String(re),
    );
  }
  const raw = Buffer.from(encodeLikeFacebook(waBody(waChange(PHONE, { messages: [waText(USER, WAMID, 1, 'hi')] }))));
  const ingress = new MetaIngress({ appSecret: APP_SECRET, verifyToken: 'v', parsers: new Map([['whatsapp_business_account', parseWhatsAppWebhook]]) });
  const tampered = Buffer.from(raw.toString().replace('hi', 'ho'));
  assert.throws(
    () => ingress.accept(tampered, (h) => (h === 'x-hub-signature-256' ? sign(raw, APP_SECRET) : undefined), Date.now()),
    (err: unknown) => err instanceof WebhookInputError && err.status === 403,
  );
  assert.equal(ingress.accept(raw, (h) => (h === 'x-hub-signature-256' ? sign(raw, APP_SECRET) : undefined), Date.now()).events.length, 1, 'signed over the exact bytes');
});
