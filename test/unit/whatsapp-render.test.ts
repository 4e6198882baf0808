/** WhatsApp rendering within the Cloud API's limits, each change reported; and the CHANNELS_FILE entry check. */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { ConfigError, loadConfig } from '../../src/config';
import { loadChannels } from '../../src/channels/registry';
import { tmpDir } from '../helpers/env';
import { checkWhatsAppEntry } from '../../src/channels/whatsapp/channel';
import { CHOICES_BODY, LIST_BUTTON, renderWhatsApp, type WaInteractive } from '../../src/channels/whatsapp/render';
import { checkSend } from '../../src/dev/fake-whatsapp-check';

const interactive = (m: { body: { interactive?: WaInteractive } }) => m.body.interactive!;
/** What the Cloud API (its fake) says of a rendered message: nothing, or its refusal. */
const refusal = (body: object) => checkSend({ messaging_product: 'whatsapp', recipient_type: 'individual', to: '16505551234', ...body, biz_opaque_callback_data: '{"mid":"m","i":0}' });

test('text longer than 4,096 characters is split at word ends, every piece a text message WhatsApp takes', () => {
  const words = Array.from({ length: 1_500 }, (_, i) => `word${i}`).join(' ');
  const r = renderWhatsApp([{ text: words }]);
  assert.ok(r.messages.length >= 3);
  assert.ok(r.messages.every((m) => m.body.type === 'text' && m.body.text!.body.length <= 4_096 && refusal(m.body) === undefined));
  assert.equal(r.messages.map((m) => m.body.text!.body).join(' '), words, 'nothing lost');
  assert.deepEqual(r.adjustments, [`text split in ${r.messages.length} messages`]);
  assert.deepEqual(renderWhatsApp([{ text: 'hi' }]), { messages: [{ kind: 'text', body: { type: 'text', text: { body: 'hi', preview_url: false } }, text: 'hi' }], adjustments: [] });
});

test('up to 3 choices are reply buttons: titles cut to 20 and kept unique; the body carries the text', () => {
  const r = renderWhatsApp([
    {
      text: 'What can I do for you?',
      quickReplies: [
        { title: 'Track my order please', payload: 'INTENT:order.status' },
        { title: 'Track my order please!', payload: 'INTENT:order.track' },
        { title: 'Human', payload: 'INTENT:handoff' },
      ],
    },
  ]);
  assert.equal(r.messages.length, 1);
  const m = r.messages[0]!;
  assert.equal(m.kind, 'quick_replies');
  const i = interactive(m);
  assert.equal(i.type, 'button');
  if (i.type !== 'button') return;
  assert.equal(i.body.text, 'What can I do for you?');
  assert.deepEqual(
    i.action.buttons.map((b) => b.reply.id),
    ['INTENT:order.status', 'INTENT:order.track', 'INTENT:handoff'],
  );
  const titles = i.action.buttons.map((b) => b.reply.title);
  assert.ok(titles.every((t) => t.length <= 20) && new Set(titles).size === 3, `unique titles of at most 20: ${titles}`);
  assert.equal(refusal(m.body), undefined);
  assert.deepEqual(r.adjustments, ['titles shortened to 20 characters or made unique']);
});

test('4 buttons become a list; 11 choices become 10 rows, with the adjustment said', () => {
  const four = renderWhatsApp([{ text: 'Pick one', buttons: ['A', 'B', 'C', 'D'].map((t) => ({ title: t, payload: `P_${t}` })) }]);
  const l = interactive(four.messages[0]!);
  assert.equal(l.type, 'list');
  if (l.type !== 'list') return;
  assert.equal(four.messages[0]!.kind, 'buttons');
  assert.deepEqual(
    [l.body.text, l.action.button, l.action.sections[0]!.rows.map((x) => [x.id, x.title])],
    [
      'Pick one',
      LIST_BUTTON,
      [
        ['P_A', 'A'],
        ['P_B', 'B'],
        ['P_C', 'C'],
        ['P_D', 'D'],
      ],
    ],
  );
  assert.deepEqual(four.adjustments, []);
  assert.equal(refusal(four.messages[0]!.body), undefined);

  const eleven = renderWhatsApp([{ text: 'All our stores', quickReplies: Array.from({ length: 11 }, (_, n) => ({ title: `Store number ${n} in the old town`, payload: `S${n}` })) }]);
  const e = interactive(eleven.messages[0]!);
  assert.equal(e.type, 'list');
  if (e.type !== 'list') return;
  const rows = e.action.sections[0]!.rows;
  assert.equal(rows.length, 10);
  assert.ok(
    rows.every((x) => x.title.length <= 24 && x.description!.startsWith('Store number')),
    'the whole title goes to the description',
  );
  assert.equal(refusal(eleven.messages[0]!.body), undefined);
  assert.deepEqual(eleven.adjustments, ['11 choices cut to 10 list rows', 'titles shortened to 24 characters or made unique']);
});

test('the body of reply buttons is at most 1,024 characters: longer text goes before it in text messages', () => {
  const text = Array.from({ length: 300 }, (_, i) => `w${i}`).join(' ') + ' ' + 'x'.repeat(10);
  const r = renderWhatsApp([{ text, buttons: [{ title: 'OK', payload: 'ok' }] }]);
  assert.ok(r.messages.length >= 2);
  const last = r.messages[r.messages.length - 1]!;
  assert.equal(last.body.type, 'interactive');
  assert.ok(interactive(last).body.text.length <= 1_024);
  assert.ok(r.messages.every((m) => refusal(m.body) === undefined));
  assert.equal([...r.messages.slice(0, -1).map((m) => m.body.text!.body), interactive(last).body.text].join(' '), text);
  assert.deepEqual(r.adjustments, [`text split in ${r.messages.length} messages`]);
});

test('links: one alone is a cta_url button; beside choices they are written into the text; choices without text get a body', () => {
  const cta = renderWhatsApp([{ text: 'Your receipt', buttons: [{ title: 'Open the receipt now please', url: 'https://shop.example/r/1' }] }]);
  const c = interactive(cta.messages[0]!);
  assert.deepEqual(c, { type: 'cta_url', body: { text: 'Your receipt' }, action: { name: 'cta_url', parameters: { display_text: 'Open the receipt no…', url: 'https://shop.example/r/1' } } });
  assert.equal(refusal(cta.messages[0]!.body), undefined);
  assert.deepEqual(cta.adjustments, ['link title shortened to 20 characters']);

  const mixed = renderWhatsApp([
    {
      buttons: [
        { title: 'Site', url: 'https://shop.example' },
        { title: 'Track', payload: 'INTENT:order.status' },
      ],
    },
  ]);
  const m = interactive(mixed.messages[0]!);
  assert.equal(m.type, 'button');
  assert.equal(m.body.text, 'Site: https://shop.example');
  assert.deepEqual(mixed.adjustments, ['1 link buttons written into the text']);

  const bare = renderWhatsApp([{ quickReplies: [{ title: 'Yes', payload: 'Y' }] }]);
  assert.equal(interactive(bare.messages[0]!).body.text, CHOICES_BODY);
  assert.deepEqual(bare.adjustments, [`choices without text: "${CHOICES_BODY}" used as the text`]);
  assert.deepEqual(renderWhatsApp([{ text: '  ' }]), { messages: [], adjustments: ['an empty text not sent (WhatsApp refuses one)'] });
});

test('attachments go by link, a file as a document with its name; a repeated payload is one choice', () => {
  const r = renderWhatsApp([{ text: 'Here is your invoice', attachment: { type: 'file', url: 'https://cdn.example/inv.pdf', name: 'inv.pdf' } }, { attachment: { type: 'image', url: 'https://cdn.example/a.jpg' } }]);
  assert.deepEqual(
    r.messages.map((m) => [m.kind, m.body.type]),
    [
      ['text', 'text'],
      ['attachment', 'document'],
      ['attachment', 'image'],
    ],
  );
  assert.deepEqual(r.messages[1]!.body.document, { link: 'https://cdn.example/inv.pdf', filename: 'inv.pdf' });
  assert.deepEqual(r.messages[2]!.body.image, { link: 'https://cdn.example/a.jpg' });
  assert.ok(r.messages.every((m) => refusal(m.body) === undefined));
  const dup = renderWhatsApp([
    {
      text: 'x',
      quickReplies: [
        { title: 'A', payload: 'same' },
        { title: 'B', payload: 'same' },
      ],
    },
  ]);
  const d = interactive(dup.messages[0]!);
  assert.equal(d.type === 'button' && d.action.buttons.length, 1);
  assert.deepEqual(dup.adjustments, ['1 choices with a payload already offered dropped']);
});

test('the fake refuses what WhatsApp refuses: 4 reply buttons, a 21-character title, a 4,097-character text, equal titles', () => {
  const buttons = (n: number, title = (i: number) => `B${i}`) => ({
    type: 'interactive',
    interactive: { type: 'button', body: { text: 'x' }, action: { buttons: Array.from({ length: n }, (_, i) => ({ type: 'reply', reply: { id: `b${i}`, title: title(i) } })) } },
  });
  assert.deepEqual(refusal(buttons(4)), { code: 131009, details: 'Buttons count invalid. Min: 1, Max: 3' });
  assert.equal(refusal(buttons(1, () => 'x'.repeat(21)))?.code, 131009);
  assert.match(refusal(buttons(2, () => 'same'))!.details, /unique/);
  assert.equal(refusal({ type: 'text', text: { body: 'x'.repeat(4_097) } })?.code, 131009);
  assert.equal(checkSend({ messaging_product: 'sms', to: '1' })?.code, 100);
});

test("the fake takes mark-as-read with the typing indicator only as Meta documents it: status read, a received message's wamid, typing_indicator {type: text}", () => {
  const read = { messaging_product: 'whatsapp', status: 'read', message_id: 'wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBJDQjZCMzlEQUE4OTJBMTE4RTUA', typing_indicator: { type: 'text' } };
  assert.equal(checkSend(read), undefined);
  assert.equal(checkSend({ ...read, message_id: 'typing:1764450000000' })?.code, 100, 'not a message id');
  assert.equal(checkSend({ ...read, message_id: undefined })?.code, 100);
  assert.equal(checkSend({ ...read, typing_indicator: { type: 'audio' } })?.code, 100);
  assert.equal(checkSend({ ...read, status: 'typing' })?.code, 100);
  assert.equal(checkSend({ ...read, messaging_product: undefined })?.code, 100);
});

test('a CHANNELS_FILE whatsapp entry needs the phone number id (digits) and a token; every problem is named', () => {
  const entry = (fields: Record<string, unknown>) => ({ type: 'whatsapp', id: String(fields.id), fields, where: 'CHANNELS_FILE c.json channels[1]' });
  assert.deepEqual(checkWhatsAppEntry(entry({ id: '106540352242922', accessToken: 'EAAG-long-token' })), []);
  assert.deepEqual(checkWhatsAppEntry(entry({ id: '+1 555 0100', accessToken: 'short' })), [
    'CHANNELS_FILE c.json channels[1].id must be the phone number id (digits, from WhatsApp Manager > API setup), not the phone number: got "+1 555 0100"',
    'CHANNELS_FILE c.json channels[1].accessToken must be an access token with the whatsapp_business_messaging permission (at least 8 characters, no spaces)',
  ]);
});

test('CHANNELS_FILE: WhatsApp numbers become accounts with their tokens; every bad entry of the file is reported at once', () => {
  const file = path.join(tmpDir('wa-channels'), 'channels.json');
  const load = (channels: unknown[]) => {
    fs.writeFileSync(file, JSON.stringify({ channels }));
    return loadChannels(loadConfig({ NODE_ENV: 'production', ROLE: 'worker', REDIS_URL: 'redis://r:6379', CHANNELS_FILE: file }));
  };
  const ok = load([
    { type: 'whatsapp', id: '106540352242922', name: 'Shop', accessToken: 'EAAG-token-1' },
    { type: 'messenger', id: '101', accessToken: 'page-token-1' },
  ]);
  assert.deepEqual(ok.accounts.get('whatsapp', '106540352242922'), { channel: 'whatsapp', id: '106540352242922', name: 'Shop' });
  assert.equal(ok.settings.whatsapp.numbers.get('106540352242922')?.accessToken, 'EAAG-token-1');
  assert.equal(ok.accounts.serves('whatsapp', '999'), false, 'only listed numbers are served');
  assert.throws(
    () =>
      load([
        { type: 'whatsapp', id: 'shop-number', accessToken: 'EAAG-token-1' },
        { type: 'whatsapp', id: '106540352242923' },
      ]),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.deepEqual(
        err.problems.map((x) => x.replace(file, '<file>')),
        [
          'CHANNELS_FILE <file> channels[0].id must be the phone number id (digits, from WhatsApp Manager > API setup), not the phone number: got "shop-number"',
          'CHANNELS_FILE <file> channels[1].accessToken must be an access token with the whatsapp_business_messaging permission (at least 8 characters, no spaces)',
        ],
      );
      return true;
    },
  );
});
