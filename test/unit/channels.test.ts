/** The channel port's neutral pieces: conversation keys, reply tokens, text splitting, and Messenger's rendering within its limits. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { conversationKey, parseConversationKey, upgradeLegacy } from '../../src/channels/conversation';
import { parseReplyToken, replyToken } from '../../src/channels/event';
import { renderMessenger } from '../../src/channels/messenger/render';
import { splitText } from '../../src/channels/reply';

test('a conversation key names channel, account and user; Messenger keeps the keys it had before channels', () => {
  assert.equal(conversationKey({ channel: 'messenger', account: '101', user: '555' }), '101:555', 'queued events and contexts of a running deployment keep their keys');
  assert.equal(conversationKey({ channel: 'whatsapp', account: '1099', user: '4915112345' }), 'whatsapp:1099:4915112345');
  for (const c of [
    { channel: 'messenger', account: '101', user: '555' },
    { channel: 'line', account: 'Ubot', user: 'U0123abc' },
    { channel: 'webchat', account: 'shop', user: 'v_x-Y.z' },
  ]) {
    assert.deepEqual(parseConversationKey(conversationKey(c)), c);
  }
  for (const bad of ['', '101', 'a:b:c:d', 'messenger:101:555', 'Bad:1:2', 'whatsapp::2', '101:u{1}', 'x:1:a b']) assert.equal(parseConversationKey(bad), undefined, bad);
});

test('events and records queued before channels existed are read as Messenger conversations', () => {
  const old = { id: 'm1', kind: 'text', pageId: '101', userId: '555', timestamp: 1, receivedAt: 1 };
  const e = upgradeLegacy(old as never) as Record<string, unknown>;
  assert.deepEqual([e.channel, e.account, e.user, e.pageId, e.userId], ['messenger', '101', '555', undefined, undefined]);
  const already = { channel: 'line', account: 'a', user: 'u' };
  assert.equal(upgradeLegacy(already), already);
});

test('a reply token round-trips; another app’s metadata is not ours', () => {
  const t = replyToken({ event: 'm_in', index: 2 });
  assert.equal(t, '{"mid":"m_in","i":2}', 'the format replies carried before channels: echoes of in-flight replies still match');
  assert.deepEqual(parseReplyToken(t), { event: 'm_in', index: 2 });
  for (const other of [undefined, '', 'free text', '{"mid":"","i":0}', '{"mid":"x","i":-1}', '{"mid":"x","i":1.5}', '[1]']) assert.equal(parseReplyToken(other), undefined, String(other));
});

test('long text is split at paragraph or word ends, never mid-word or mid-emoji, and nothing is lost', () => {
  const words = Array.from({ length: 600 }, (_, i) => `word${i}`).join(' ');
  const parts = splitText(words, 2_000);
  assert.ok(parts.length >= 3 && parts.every((p) => p.length <= 2_000));
  assert.equal(parts.join(' '), words);
  assert.ok(
    parts.every((p) => /^word\d+/.test(p) && /word\d+$/.test(p)),
    'cut between words',
  );
  const emoji = '😀'.repeat(1_500); // 3,000 UTF-16 units, no spaces
  const e = splitText(emoji, 2_000);
  assert.equal(e.join(''), emoji);
  assert.ok(
    e.every((p) => !/^[\uDC00-\uDFFF]/.test(p) && !/[\uD800-\uDBFF]$/.test(p)),
    'no half emoji',
  );
  assert.deepEqual(splitText('', 10), ['']);
});

test('Messenger rendering keeps to the Send API limits and says what it changed', () => {
  const quick = Array.from({ length: 15 }, (_, i) => ({ title: `A rather long option number ${i}`, payload: `P${i}` }));
  const r = renderMessenger([{ text: 'x'.repeat(4_500), quickReplies: quick }]);
  assert.equal(r.messages.length, 3, '4,500 characters in messages of at most 2,000');
  assert.ok(r.messages.every((m) => (m.body.text ?? '').length <= 2_000));
  const last = r.messages[2]!.body;
  assert.equal(last.quick_replies?.length, 13, 'quick replies ride on the last message, at most 13');
  assert.ok(last.quick_replies!.every((q) => q.title.length <= 20 && q.content_type === 'text'));
  assert.equal(r.messages[0]!.body.quick_replies, undefined);
  assert.deepEqual(r.adjustments.sort(), ['15 quick replies cut to 13', 'quick reply titles shortened to 20 characters', 'text split in 3 messages'].sort());

  const b = renderMessenger([
    {
      text: 'Pick one',
      buttons: [
        { title: 'Track', payload: 'INTENT:order.status' },
        { title: 'Site', url: 'https://shop.example' },
        { title: 'C', payload: 'c' },
        { title: 'D', payload: 'd' },
      ],
    },
  ]);
  assert.equal(b.messages.length, 1);
  const template = b.messages[0]!.body.attachment!.payload as { template_type: string; text: string; buttons: Record<string, string>[] };
  assert.deepEqual([template.template_type, template.text, template.buttons.length], ['button', 'Pick one', 3]);
  assert.deepEqual(template.buttons[1], { type: 'web_url', url: 'https://shop.example', title: 'Site' });
  assert.deepEqual(b.adjustments, ['4 buttons cut to 3']);

  const a = renderMessenger([{ text: 'Here is your invoice', attachment: { type: 'file', url: 'https://cdn.example/inv.pdf', name: 'inv.pdf' } }]);
  assert.deepEqual(
    a.messages.map((m) => m.kind),
    ['text', 'attachment'],
  );
  assert.deepEqual(a.messages[1]!.body.attachment, { type: 'file', payload: { url: 'https://cdn.example/inv.pdf', is_reusable: true } });
  assert.deepEqual(renderMessenger([]).messages, []);
});
