/** LINE's send side: rendering within the Messaging API's limits, the retry key, and how errors are classified. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import type { Reply } from '../../src/channels/reply';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { checkLineEntry, DEV_LINE_ACCOUNT } from '../../src/channels/line/account';
import { loadChannels } from '../../src/channels/registry';
import { ConfigError, loadConfig } from '../../src/config';
import { classifyLine } from '../../src/channels/line/api';
import { LINE_LIMITS, renderLine, type LineMessage } from '../../src/channels/line/render';
import { lineRetryKey, UUID } from '../../src/channels/line/retry-key';
import { checkPushMessages } from '../../src/dev/fake-line-check';

const bubbles = (replies: Reply[]) => renderLine(replies).messages.flatMap((m) => m.body.messages);
const acceptedByLine = (replies: Reply[]) => renderLine(replies).messages.every((m) => checkPushMessages({ messages: m.body.messages }).length === 0);

test("14 quick replies become 13 postback buttons with 20-character labels, on the reply's last bubble, and the change is reported", () => {
  const quick = Array.from({ length: 14 }, (_, i) => ({ title: `Option number ${i} with a long title`, payload: `INTENT:option.${i}` }));
  const r = renderLine([{ text: 'Pick one', quickReplies: quick }]);
  assert.deepEqual(r.adjustments, ['14 quick replies cut to 13', 'quick reply labels shortened to 20 characters']);
  const [m] = bubbles([{ text: 'Pick one', quickReplies: quick }]);
  const items = m!.quickReply!.items;
  assert.equal(items.length, 13);
  assert.deepEqual(items[0]!.action, { type: 'postback', label: 'Option number 0 wit…', data: 'INTENT:option.0', displayText: 'Option number 0 with a long title' });
  assert.ok(items.every((i) => i.action.label.length <= 20));
  assert.equal(r.messages[0]!.kind, 'quick_replies');
  assert.ok(acceptedByLine([{ text: 'Pick one', quickReplies: quick }]));
});

test('6,000 characters become two text bubbles of at most 5,000, in one push; nothing is lost', () => {
  const words = Array.from({ length: 1_000 }, (_, i) => `word${i}`)
    .join(' ')
    .slice(0, 6_000);
  const r = renderLine([{ text: words }]);
  assert.deepEqual(r.adjustments, ['text split in 2 messages']);
  assert.equal(r.messages.length, 1, 'one push, one message of the monthly quota');
  const texts = r.messages[0]!.body.messages.map((m) => (m as { text: string }).text);
  assert.equal(texts.length, 2);
  assert.ok(texts.every((t) => t.length <= 5_000));
  assert.equal(texts.join(' '), words);
});

test('more than 5 bubbles go in several pushes, in order: each push is one ledger step with its own retry key', () => {
  const replies = Array.from({ length: 7 }, (_, i) => ({ text: `reply ${i}` }));
  const r = renderLine(replies);
  assert.deepEqual(
    r.messages.map((m) => m.body.messages.length),
    [5, 2],
  );
  assert.deepEqual(
    r.messages.flatMap((m) => m.body.messages.map((b) => (b as { text: string }).text)),
    replies.map((x) => x.text),
  );
  assert.equal(r.messages[1]!.text, 'reply 5\n\nreply 6', "the chatlog row of a push holds its bubbles' text");
});

test('buttons: a buttons template of at most 4 actions and 160 characters, the rest of the text before it', () => {
  const buttons = [
    { title: 'Track my order please', payload: 'INTENT:order.status' },
    { title: 'Shop', url: 'https://shop.example/' },
    { title: 'C', payload: 'c' },
    { title: 'D', payload: 'd' },
    { title: 'E', payload: 'e' },
  ];
  const text = `${'Long intro. '.repeat(20)}What next?`;
  const r = renderLine([{ text, buttons }]);
  assert.deepEqual(r.adjustments, ['5 buttons cut to 4', 'button labels shortened to 20 characters', "text split in 2 messages to fit the buttons template's 160 characters"]);
  const [intro, tpl] = r.messages[0]!.body.messages as [LineMessage & { type: 'text' }, LineMessage & { type: 'template' }];
  assert.equal(intro.type, 'text');
  assert.equal(tpl.type, 'template');
  assert.ok(tpl.template.text.length <= LINE_LIMITS.maxButtonText && tpl.template.text.endsWith('What next?'));
  assert.equal(`${intro.text} ${tpl.template.text}`, text.trim());
  assert.deepEqual(tpl.template.actions.slice(0, 2), [
    { type: 'postback', label: 'Track my order plea…', data: 'INTENT:order.status', displayText: 'Track my order please' },
    { type: 'uri', label: 'Shop', uri: 'https://shop.example/' },
  ]);
  assert.equal(tpl.altText, tpl.template.text, 'the notification shows the question');
  assert.equal(r.messages[0]!.kind, 'buttons');
  assert.ok(acceptedByLine([{ text, buttons }]));
  const odd = renderLine([
    {
      text: 'Go',
      buttons: [
        { title: 'FTP', url: 'ftp://x' },
        { title: 'Ok', payload: 'ok' },
      ],
    },
  ]);
  assert.deepEqual(odd.adjustments, ['1 button links LINE cannot open (http, https, line or tel, at most 1000 characters) dropped']);
});

test('images go as image messages from https URLs; video, audio, files and plain-http images go as links, and say why', () => {
  assert.deepEqual(bubbles([{ attachment: { type: 'image', url: 'https://cdn.example/a.png' } }]), [{ type: 'image', originalContentUrl: 'https://cdn.example/a.png', previewImageUrl: 'https://cdn.example/a.png' }]);
  for (const [type, why] of [
    ['video', 'preview image'],
    ['audio', 'duration'],
    ['file', 'cannot send files'],
  ] as const) {
    const r = renderLine([{ attachment: { type, url: `https://cdn.example/x.${type}`, name: `x.${type}` } }]);
    assert.deepEqual(r.messages[0]!.body.messages, [{ type: 'text', text: `x.${type}: https://cdn.example/x.${type}` }]);
    assert.match(r.adjustments[0]!, new RegExp(why));
  }
  assert.match(renderLine([{ attachment: { type: 'image', url: 'http://cdn.example/a.png' } }]).adjustments[0]!, /https URLs only/);
});

test("whatever the bot says, every push renders within LINE's limits (the fake's checks pass) and rendering is deterministic", () => {
  const text = fc.string({ maxLength: 12_000 });
  const title = fc.string({ minLength: 1, maxLength: 40 });
  const reply = fc.record(
    {
      text: fc.option(text, { nil: undefined }),
      quickReplies: fc.option(fc.array(fc.record({ title, payload: fc.string({ minLength: 1, maxLength: 400 }) }), { maxLength: 20 }), { nil: undefined }),
      buttons: fc.option(fc.array(fc.record({ title, payload: fc.string({ minLength: 1, maxLength: 50 }) }), { maxLength: 6 }), { nil: undefined }),
      attachment: fc.option(fc.record({ type: fc.constantFrom('image', 'video', 'audio', 'file'), url: fc.webUrl() }), { nil: undefined }),
    },
    { requiredKeys: [] },
  );
  fc.assert(
    fc.property(fc.array(reply, { maxLength: 4 }), (replies) => {
      const r = renderLine(replies as Reply[]);
      for (const m of r.messages) {
        assert.ok(m.body.messages.length >= 1 && m.body.messages.length <= 5);
        assert.deepEqual(checkPushMessages({ messages: m.body.messages }), []);
      }
      assert.deepEqual(renderLine(replies as Reply[]), r);
    }),
    { numRuns: 300 },
  );
});

test('the retry key is a version-5 UUID of the account and the reply: stable across processes, different for every reply', () => {
  const bot = 'Udeadbeefdeadbeefdeadbeefdeadbeef';
  const k0 = lineRetryKey(bot, '01FZ74A0TDDPYRVKNK77XKC3ZR#0');
  // Python: uuid.uuid5(uuid.NAMESPACE_URL, 'ordered-chatbot:line:<bot>:01FZ74A0TDDPYRVKNK77XKC3ZR#0')
  assert.equal(k0, '3f66dcf2-64f4-5827-b2fa-ff52bdb1c002');
  assert.equal(lineRetryKey(bot, '01FZ74A0TDDPYRVKNK77XKC3ZR#1'), 'c227a5ec-d09a-55ab-9044-0fa1366b517d');
  assert.match(k0, UUID);
  assert.match(k0, /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/, 'version 5, RFC 4122 variant');
  assert.notEqual(lineRetryKey(`U${'1'.repeat(32)}`, '01FZ74A0TDDPYRVKNK77XKC3ZR#0'), k0, 'another channel');
  const keys = new Set(Array.from({ length: 2_000 }, (_, i) => lineRetryKey(bot, `ev${i >> 2}#${i & 3}`)));
  assert.equal(keys.size, 2_000);
});

test("LINE's errors: 409 is never an error; 429 monthly limit is permanent, rate limit retryable; 5xx and timeouts may have delivered", () => {
  const t = { account: 'Ubot', user: 'Uuser' };
  const http = (status: number, body: unknown = {}) => classifyLine({ status, body: JSON.stringify(body), headers: { 'x-line-request-id': 'req-1' } }, 3, t);
  const flags = (e: ReturnType<typeof classifyLine>) => ({ code: e.code, retryable: e.retryable, uncertain: e.uncertain, notSent: e.definitelyNotSent });
  const bad = http(400, { message: 'The request body has 1 error(s)', details: [{ message: 'Length must be between 0 and 5000', property: 'messages[0].text' }] });
  assert.deepEqual(flags(bad), { code: 'invalid_request', retryable: false, uncertain: false, notSent: true });
  assert.match(bad.message, /messages\[0\]\.text Length must be between 0 and 5000/);
  assert.deepEqual(bad.context.detail, { details: [{ message: 'Length must be between 0 and 5000', property: 'messages[0].text' }], requestId: 'req-1' });
  assert.deepEqual(flags(http(401, { message: 'Authentication failed.' })), { code: 'unauthorized', retryable: false, uncertain: false, notSent: true });
  assert.deepEqual(flags(http(403, { message: 'Access to this API is not available for your account' })), { code: 'forbidden', retryable: false, uncertain: false, notSent: true });
  assert.deepEqual(flags(http(429, { message: 'You have reached your monthly limit.' })), { code: 'monthly_limit', retryable: false, uncertain: false, notSent: true });
  assert.deepEqual(flags(http(429, { message: 'The API rate limit has been exceeded. Try again later.' })), { code: 'rate_limited', retryable: true, uncertain: false, notSent: true });
  assert.deepEqual(flags(http(500, { message: 'An internal server error occurred.' })), { code: 'http_500', retryable: true, uncertain: true, notSent: false });
  assert.deepEqual(flags(http(502, '<html>bad gateway</html>')), { code: 'http_502', retryable: true, uncertain: true, notSent: false });
  assert.deepEqual(flags(classifyLine({ code: 'timeout', message: 'no answer' }, 1, t)), { code: 'timeout', retryable: true, uncertain: true, notSent: false });
  assert.deepEqual(flags(classifyLine({ code: 'ECONNRESET', message: 'reset' }, 1, t)), { code: 'network', retryable: true, uncertain: true, notSent: false });
  assert.deepEqual(flags(classifyLine({ code: 'ECONNREFUSED', message: 'refused' }, 1, t)), { code: 'network', retryable: true, uncertain: false, notSent: true });
});

test('a CHANNELS_FILE LINE entry: every problem is reported at once', () => {
  const where = 'CHANNELS_FILE c.json channels[2]';
  assert.deepEqual(checkLineEntry({ type: 'line', id: `U${'a'.repeat(32)}`, fields: { channelSecret: 'ab'.repeat(16), accessToken: 'x'.repeat(40) }, where }), []);
  const problems = checkLineEntry({ type: 'line', id: '1654012345', fields: { channelSecret: 'not-the-secret', accessToken: 'short' }, where });
  assert.equal(problems.length, 3);
  assert.match(problems[0]!, /channels\[2\]\.id must be the bot's user id .*U followed by 32 hex digits/);
  assert.match(problems[1]!, /channels\[2\]\.channelSecret must be the channel secret .*32 hexadecimal/);
  assert.match(problems[2]!, /channels\[2\]\.accessToken must be a channel access token/);
  assert.equal(checkLineEntry({ type: 'line', id: `U${'a'.repeat(32)}`, fields: {}, where }).length, 2, 'missing secret and token');
});

test('CHANNELS_FILE: the problems of every LINE entry are reported with the others, at once; dev mode without it serves the dev channel', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'line-config-'));
  const file = path.join(dir, 'channels.json');
  fs.writeFileSync(
    file,
    JSON.stringify({
      channels: [
        { type: 'line', id: `U${'a'.repeat(32)}`, name: 'Good', channelSecret: 'ab'.repeat(16), accessToken: 'x'.repeat(40) },
        { type: 'line', id: 'line-bot', channelSecret: 'secret', accessToken: 'short' },
        { type: 'messenger', id: '123', accessToken: 'tiny' },
      ],
    }),
  );
  const env = { NODE_ENV: 'production', ROLE: 'worker', REDIS_URL: 'redis://r:6379', CHANNELS_FILE: file };
  try {
    loadChannels(loadConfig(env));
    assert.fail('accepted a bad file');
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    assert.equal(err.problems.length, 4, err.message);
    assert.match(err.message, /channels\[1\]\.id must be the bot's user id/);
    assert.match(err.message, /channels\[1\]\.channelSecret/);
    assert.match(err.message, /channels\[1\]\.accessToken/);
    assert.match(err.message, /channels\[2\]\.accessToken must be the page's access token/);
  }
  fs.writeFileSync(file, JSON.stringify({ channels: [{ type: 'line', id: `U${'a'.repeat(32)}`, channelSecret: 'ab'.repeat(16), accessToken: 'x'.repeat(40) }] }));
  const loaded = loadChannels(loadConfig(env));
  assert.deepEqual([...loaded.settings.line.accounts.keys()], [`U${'a'.repeat(32)}`], 'production: only the listed channel');
  assert.ok(loaded.accounts.serves('line', `U${'a'.repeat(32)}`));
  const dev = loadChannels(loadConfig({ NODE_ENV: 'development' }));
  assert.deepEqual([...dev.settings.line.accounts.keys()], [DEV_LINE_ACCOUNT.id]);
  assert.ok(dev.accounts.serves('line', DEV_LINE_ACCOUNT.id));
  fs.rmSync(dir, { recursive: true, force: true });
});

test('a label clipped next to an emoji never keeps half of it (LINE refuses text that is not valid UTF-16)', () => {
  const title = `${'a'.repeat(18)}😀😀 more`;
  const [m] = bubbles([{ text: 'Pick', quickReplies: [{ title, payload: 'p' }] }]);
  const label = m!.quickReply!.items[0]!.action.label;
  assert.equal(label, `${'a'.repeat(18)}…`);
  assert.doesNotMatch(label, /[\uD800-\uDBFF](?![\uDC00-\uDFFF])/, 'no lone high surrogate');
});
