/**
 * Instagram Messaging: Meta's documented webhook payloads (object "instagram", signed over the
 * exact bytes) into neutral events, rendering within Instagram's limits, the confirmation key a
 * send and its echo share, and the CHANNELS_FILE entry.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import { isAnswered, WebhookInputError, type ParsedEvent } from '../../src/channels/event';
import { InstagramChannel } from '../../src/channels/instagram/channel';
import { echoKey, sentKey } from '../../src/channels/instagram/confirm';
import { MAX_TEXT_BYTES, renderInstagram, splitUtf8 } from '../../src/channels/instagram/render';
import { GraphClient } from '../../src/channels/meta/graph';
import { MetaIngress } from '../../src/channels/meta/ingress';
import { parseInstagramWebhook } from '../../src/channels/instagram/parse';
import { encodeLikeFacebook, sign } from '../../src/channels/meta/signature';
import { buildChannels, loadChannels } from '../../src/channels/registry';
import { recordOfEvent } from '../../src/chatlog/records';
import { ConfigError, loadConfig } from '../../src/config';
import { FakeGraph } from '../../src/dev/fake-graph';
import { FakeInstagram, refuseInstagram } from '../../src/dev/fake-instagram';
import { APP_SECRET } from '../helpers/fb';
import { igBody, parseIg } from '../helpers/instagram';

const IG = '17841400000000101'; // the Instagram professional account (entry.id)
const U = '6512347890123456'; // an Instagram-scoped user id (IGSID)
const TS = 1_700_000_000_000;
const base = { sender: { id: U }, recipient: { id: IG }, timestamp: TS };
const wrap = (...messaging: unknown[]) => ({ object: 'instagram', entry: [{ id: IG, time: TS + 5, messaging }] });
const one = (ev: unknown): ParsedEvent => {
  const r = parseIg(wrap(ev), 7);
  assert.equal(r.events.length, 1, JSON.stringify(r.unknown));
  return r.events[0]!;
};

test('a text message: account = the Instagram account, user = the IGSID, deduped by mid', () => {
  const t = one({ ...base, message: { mid: 'aWdfZAG1fm1', text: 'Is this in stock?' } });
  assert.deepEqual(t.event, { id: 'aWdfZAG1fm1', mid: 'aWdfZAG1fm1', kind: 'text', channel: 'instagram', account: IG, user: U, timestamp: TS, receivedAt: 7, text: 'Is this in stock?' });
  assert.equal(t.queue, true);
  assert.equal(isAnswered(t.event), true);
  const q = one({ ...base, message: { mid: 'm-q', text: 'Red', quick_reply: { payload: 'COLOR_RED' } } });
  assert.deepEqual([q.event.kind, q.event.payload], ['quick_reply', 'COLOR_RED']);
  const inline = one({ ...base, message: { mid: 'm-r', text: 'this one', reply_to: { mid: 'm-earlier' } } });
  assert.equal(inline.event.replyTo, 'm-earlier');
  const pb = one({ ...base, postback: { mid: 'm-pb', title: 'Track my order', payload: 'TRACK' } });
  assert.deepEqual([pb.event.kind, pb.event.id, pb.event.title, pb.event.payload], ['postback', 'm-pb', 'Track my order', 'TRACK']);
});

test('media, shares, reels and story mentions keep their kind and URL', () => {
  for (const type of ['image', 'video', 'audio', 'file', 'share', 'ig_post', 'ig_reel', 'reel', 'story_mention']) {
    const e = one({ ...base, message: { mid: `m-${type}`, attachments: [{ type, payload: { url: `https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=${type}` } }] } }).event;
    assert.equal(e.kind, type);
    assert.equal(e.attachments?.[0]?.url, `https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=${type}`);
    assert.equal(isAnswered(e), true, `${type} is a user's message`);
  }
  const two = one({
    ...base,
    message: {
      mid: 'm-2',
      attachments: [
        { type: 'image', payload: { url: 'https://cdn/a' } },
        { type: 'image', payload: { url: 'https://cdn/b' } },
      ],
    },
  }).event;
  assert.equal(two.attachments?.length, 2);
});

test('a story reply carries the story; an ad referral rides on the message', () => {
  const s = one({ ...base, message: { mid: 'm-story', text: 'Love this!', reply_to: { story: { url: 'https://cdn/story.mp4', id: '1790001' } } } }).event;
  assert.deepEqual([s.kind, s.text, s.story], ['text', 'Love this!', { id: '1790001', url: 'https://cdn/story.mp4' }]);
  const ad = one({ ...base, message: { mid: 'm-ad', text: 'Hi', referral: { ref: 'spring', ad_id: '120', source: 'ADS', type: 'OPEN_THREAD', ads_context_data: { ad_title: 'Spring' } } } }).event;
  assert.deepEqual(ad.referral, { ref: 'spring', source: 'ADS', type: 'OPEN_THREAD' });
});

test('reactions, seen events, unsends and edits are recorded, never answered; unsupported media is answered', () => {
  const react = one({ ...base, reaction: { mid: 'm-1', action: 'react', reaction: 'love', emoji: '\u{2764}\u{FE0F}' } }).event;
  assert.deepEqual([react.kind, react.reaction], ['reaction', { mid: 'm-1', action: 'react', reaction: 'love', emoji: '\u{2764}\u{FE0F}' }]);
  const unreact = one({ ...base, reaction: { mid: 'm-1', action: 'unreact' } }).event;
  assert.notEqual(unreact.id, react.id, 'a react and its unreact are two events');
  const seen = one({ ...base, read: { mid: 'm-ours' } }).event;
  assert.deepEqual([seen.kind, seen.mids], ['read', ['m-ours']]);
  assert.deepEqual(recordOfEvent(seen), { t: 'receipt', channel: 'instagram', account: IG, user: U, kind: 'read', mids: ['m-ours'], at: TS }, 'marks our message read in the chatlog');
  const gone = one({ ...base, message: { mid: 'm-1', is_deleted: true } }).event;
  assert.deepEqual([gone.kind, gone.id, gone.replyTo], ['deleted', 'deleted:m-1', 'm-1'], 'its own id: the dedupe does not take it for the message it deletes');
  const edit = one({ ...base, message_edit: { mid: 'm-1', text: 'Is this in stock in red?', num_edit: 1 } }).event;
  assert.deepEqual([edit.kind, edit.id, edit.text, edit.replyTo], ['edit', 'edit:m-1:1', 'Is this in stock in red?', 'm-1']);
  assert.notEqual(one({ ...base, message_edit: { mid: 'm-1', text: 'again', num_edit: 2 } }).event.id, edit.id);
  for (const e of [react, unreact, seen, gone, edit]) assert.equal(isAnswered(e), false, e.kind);
  const gif = one({ ...base, message: { mid: 'm-gif', is_unsupported: true } }).event;
  assert.deepEqual([gif.kind, isAnswered(gif)], ['unsupported', true], 'the bot can say it cannot open it');
  const standby = parseIg({ object: 'instagram', entry: [{ id: IG, time: TS, standby: [{ ...base, message: { mid: 'm-sb', text: 'to the inbox app' } }] }] }).events[0]!.event;
  assert.deepEqual([standby.standby, isAnswered(standby)], [true, false]);
});

test("an echo (the messages field, no metadata) belongs to the account's conversation and yields the confirmation key of what was sent", () => {
  const rendered = renderInstagram([{ text: 'You said: "hi"' }]).messages[0]!;
  const echo = one({ sender: { id: IG }, recipient: { id: U }, timestamp: TS, message: { mid: 'm-echo', text: 'You said: "hi"', is_echo: true } });
  assert.deepEqual([echo.event.kind, echo.event.account, echo.event.user, echo.event.metadata], ['echo', IG, U, undefined]);
  assert.equal(echo.confirms, undefined, 'it cannot name a reply');
  assert.equal(echo.confirmsKey, sentKey(rendered.body), 'it names the content');
  assert.equal(echo.queue, true, 'recorded by a worker like any echo');
  const other = one({ sender: { id: IG }, recipient: { id: U }, timestamp: TS, message: { mid: 'm-echo2', text: 'You said: "ho"', is_echo: true } });
  assert.notEqual(other.confirmsKey, echo.confirmsKey);
});

test('Messenger bodies read as before on the same endpoint: Instagram additions stay Instagram', () => {
  const page = {
    object: 'page',
    entry: [
      {
        id: '101',
        time: TS,
        messaging: [
          { sender: { id: '9' }, recipient: { id: '101' }, timestamp: TS, message: { mid: 'm-del', is_deleted: true } },
          { sender: { id: '101' }, recipient: { id: '9' }, timestamp: TS, message: { mid: 'm-e', is_echo: true, app_id: 1, text: 'x', metadata: JSON.stringify({ mid: 'm-in', i: 0 }) } },
          { sender: { id: '9' }, recipient: { id: '101' }, timestamp: TS, message: { mid: 'm-s', text: 'hi', reply_to: { story: { id: '1' } } } },
        ],
      },
    ],
  };
  const r = parseIg(page);
  assert.deepEqual(
    r.unknown.map((u) => u.path),
    ['entry[0].messaging[0]'],
    'an unsend is not a Messenger event this version reads',
  );
  assert.deepEqual(
    r.events.map((p) => [p.event.channel, p.event.kind, p.confirms, p.confirmsKey, p.event.story]),
    [
      ['messenger', 'echo', { event: 'm-in', index: 0 }, undefined, undefined],
      ['messenger', 'text', undefined, undefined, undefined],
    ],
  );
});

test('signed like Facebook over the exact bytes; a wrong signature or a bad event is refused naming the problem', () => {
  const ingress = new MetaIngress({ appSecret: APP_SECRET, verifyToken: 'v', parsers: new Map([['instagram', parseInstagramWebhook]]) });
  const ingest = (b: unknown, secret = APP_SECRET) => {
    const raw = Buffer.from(encodeLikeFacebook(b)); // non-ASCII and '/' escaped, as Facebook signs
    return ingress.accept(raw, (h) => (h === 'x-hub-signature-256' ? sign(raw, secret) : undefined), 1);
  };
  assert.equal(ingest(igBody([{ ...base, message: { mid: 'm', text: 'ünïcødé /' } }])).events[0]!.event.text, 'ünïcødé /');
  assert.throws(
    () => ingest(wrap({ ...base, message: { mid: 'm', text: 'x' } }), 'another-secret'),
    (e: unknown) => e instanceof WebhookInputError && e.status === 403,
  );
  const bad: [unknown, RegExp][] = [
    [wrap({ ...base, message: { mid: 'm', text: 'x', reply_to: { story: {} } } }), /entry\[0\]\.messaging\[0\]\.message\.reply_to\.story must have an id or a url/],
    [wrap({ ...base, message_edit: { text: 'x' } }), /message_edit\.mid is required/],
    [wrap({ ...base, message: { text: 'no mid' } }), /message\.mid is required/],
    [wrap({ recipient: { id: IG }, message: { mid: 'm', text: 'x' } }), /sender is required/],
  ];
  for (const [input, msg] of bad)
    assert.throws(
      () => parseIg(input),
      (e: unknown) => e instanceof WebhookInputError && e.status === 400 && msg.test(e.message),
      String(msg),
    );
});

test('text is split to at most 1,000 UTF-8 bytes (not characters), at word ends, nothing lost', () => {
  const accents = Array.from({ length: 700 }, (_, i) => `café${i}`).join(' '); // ~4,800 characters, more bytes
  const r = renderInstagram([{ text: accents, quickReplies: [{ title: 'Yes', payload: 'Y' }] }]);
  assert.ok(r.messages.length >= 5);
  assert.ok(
    r.messages.every((m) => Buffer.byteLength(m.body.text!) <= MAX_TEXT_BYTES),
    'every piece within 1,000 bytes',
  );
  assert.equal(r.messages.map((m) => m.body.text).join(' '), accents);
  assert.deepEqual(
    r.messages.map((m) => m.body.quick_replies?.length ?? 0),
    [...Array(r.messages.length - 1).fill(0), 1],
    'quick replies on the last piece only',
  );
  assert.ok(
    r.adjustments.some((a) => /bytes/.test(a)),
    r.adjustments.join('; '),
  );
  const cjk = '日本語のテキスト'.repeat(200); // 1,600 characters, 4,800 bytes, no spaces
  const pieces = splitUtf8(cjk, MAX_TEXT_BYTES);
  assert.equal(pieces.join(''), cjk);
  assert.ok(
    pieces.every((p) => Buffer.byteLength(p) <= MAX_TEXT_BYTES),
    'within the limit',
  );
  assert.ok(
    pieces.slice(0, -1).every((p) => Buffer.byteLength(p) > 900),
    `pieces filled, not cut short: ${pieces.map((p) => Buffer.byteLength(p))}`,
  );
  const emoji = '😀'.repeat(600); // 2,400 bytes
  assert.ok(
    splitUtf8(emoji, MAX_TEXT_BYTES).every((p) => !/^[\uDC00-\uDFFF]/.test(p) && !/[\uD800-\uDBFF]$/.test(p)),
    'no half emoji',
  );
  assert.deepEqual(renderInstagram([{ text: 'short' }]).adjustments, []);
});

test('quick replies, buttons and attachments are rendered within what Instagram takes, and the fake takes them', () => {
  const quick = Array.from({ length: 15 }, (_, i) => ({ title: `A rather long option ${i}`, payload: `P${i}` }));
  const q = renderInstagram([{ text: 'Pick', quickReplies: quick }]);
  assert.equal(q.messages[0]!.body.quick_replies?.length, 13);
  assert.ok(q.messages[0]!.body.quick_replies!.every((x) => x.title.length <= 20 && x.content_type === 'text'));
  const b = renderInstagram([
    {
      text: 'x'.repeat(900),
      buttons: [
        { title: 'A', payload: 'a' },
        { title: 'Site', url: 'https://shop.example' },
        { title: 'C', payload: 'c' },
        { title: 'D', payload: 'd' },
      ],
    },
  ]);
  const tpl = b.messages.at(-1)!.body.attachment!.payload as { text: string; buttons: unknown[] };
  assert.ok(tpl.text.length <= 640 && tpl.buttons.length === 3);
  const pdf = renderInstagram([{ attachment: { type: 'file', url: 'https://shop.example/invoice.pdf', name: 'Invoice' } }]);
  assert.deepEqual(
    pdf.messages.map((m) => m.body.attachment?.type),
    ['file'],
  );
  const zip = renderInstagram([{ text: 'Your files', attachment: { type: 'file', url: 'https://shop.example/photos.zip', name: 'Photos' } }]);
  assert.deepEqual(
    zip.messages.map((m) => m.body.text),
    ['Your files\n\nPhotos: https://shop.example/photos.zip'],
    'Instagram takes PDF files only: a link instead',
  );
  assert.match(zip.adjustments.join(), /PDF files only/);
  const img = renderInstagram([{ attachment: { type: 'image', url: 'https://shop.example/a.png' } }]);
  for (const m of [...q.messages, ...b.messages, ...pdf.messages, ...zip.messages, ...img.messages]) {
    assert.equal(refuseInstagram({ recipient: { id: U }, messaging_type: 'RESPONSE', message: m.body }), undefined, JSON.stringify(m.body));
  }
  assert.match(refuseInstagram({ message: { text: 'é'.repeat(501) } })!.message, /less than or equal to 1000/, 'the fake counts bytes too');
  assert.match(refuseInstagram({ message: { attachment: { type: 'file', payload: { url: 'https://x/a.zip' } } } })!.message, /Upload attachment failure/);
  assert.match(refuseInstagram({ messaging_type: 'MESSAGE_TAG', tag: 'ACCOUNT_UPDATE', message: { text: 'x' } })!.message, /HUMAN_AGENT/);
});

test("every message we send has the same confirmation key as Instagram's echo of it, and no metadata", async () => {
  const graph = new FakeGraph();
  const fake = new FakeInstagram(graph, { accounts: new Map([['tok-ig', IG]]) });
  const client = new GraphClient({ baseUrl: await graph.listen(), timeoutMs: 2_000, maxAttempts: 1, backoffBaseMs: 1, backoffMaxMs: 1 });
  const channel = new InstagramChannel({ graph: client, accounts: new Map([[IG, { id: IG, accessToken: 'tok-ig' }]]) });
  try {
    const to = { channel: 'instagram', account: IG, user: U };
    const r = channel.render(
      [
        { text: 'Hello', quickReplies: [{ title: 'Hi', payload: 'HI' }] },
        { text: 'Pick one', buttons: [{ title: 'A', payload: 'a' }] },
        { attachment: { type: 'image', url: 'https://shop.example/a.png' } },
        { attachment: { type: 'file', url: 'https://shop.example/a.pdf' } },
      ],
      to,
      'bot',
    );
    for (const [i, m] of r.messages.entries()) {
      const ref = { event: 'm-in', index: i };
      const sent = await channel.send(m, { to, ref, token: 'unused', idempotencyKey: `m-in#${i}`, author: 'bot', about: {} as never });
      const call = graph.calls.at(-1)!;
      assert.equal((call.body.message as Record<string, unknown>).metadata, undefined, 'Instagram is sent no metadata');
      assert.equal(call.body.messaging_type, 'RESPONSE');
      const echo = parseIg(fake.echo(IG, U, sent.messageId!, call.body.message as Record<string, unknown>, TS)).events[0]!;
      assert.deepEqual([echo.event.kind, echo.event.account, echo.event.user, echo.event.id], ['echo', IG, U, sent.messageId]);
      assert.equal(echo.confirmsKey, channel.confirmationKey(m), `message ${i}: echo and send share the key`);
    }
    const keys = r.messages.map((m) => channel.confirmationKey(m));
    assert.equal(new Set(keys).size, keys.length, 'different content, different keys');
    await channel.send(r.messages[0]!, { to, ref: { event: 'a', index: 0 }, token: '', idempotencyKey: 'a#0', author: 'agent', about: {} as never });
    assert.deepEqual([graph.calls.at(-1)!.body.messaging_type, graph.calls.at(-1)!.body.tag], ['MESSAGE_TAG', 'HUMAN_AGENT'], "an agent's reply may come up to 7 days later");
    assert.equal(channel.policy.replyWindowMs, 24 * 3_600_000);
    assert.equal(echoKey({ mid: 'x', is_echo: true }), undefined, 'an echo with nothing to match confirms nothing');
  } finally {
    client.close();
    await graph.close();
  }
});

test('CHANNELS_FILE: Instagram entries are checked with every problem named; good ones are served and sent through', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cfg-ig-'));
  const bad = path.join(dir, 'bad.json');
  fs.writeFileSync(
    bad,
    JSON.stringify({
      channels: [
        { type: 'instagram', id: 'myshop', name: 'Shop' },
        { type: 'instagram', id: '178414', accessToken: 'short' },
      ],
    }),
  );
  assert.throws(
    () => loadChannels(loadConfig({ CHANNELS_FILE: bad, GRAPH_API_URL: 'http://127.0.0.1:9' })),
    (e: unknown) => {
      const p = (e as ConfigError).problems.join('\n');
      return (
        e instanceof ConfigError &&
        /channels\[0\]\.id must be the Instagram professional account's numeric id/.test(p) &&
        /channels\[0\]\.accessToken must be the access token of the Facebook Page linked/.test(p) &&
        /channels\[1\]\.accessToken/.test(p)
      );
    },
  );
  const good = path.join(dir, 'good.json');
  fs.writeFileSync(
    good,
    JSON.stringify({
      channels: [
        { type: 'instagram', id: IG, name: 'Shop', accessToken: 'EAA-page-token' },
        { type: 'messenger', id: '101', accessToken: 'EAA-page-token' },
      ],
    }),
  );
  const config = loadConfig({ CHANNELS_FILE: good, GRAPH_API_URL: 'http://127.0.0.1:9' });
  const loaded = loadChannels(config);
  assert.equal(loaded.accounts.serves('instagram', IG), true);
  assert.equal(loaded.accounts.serves('instagram', '17841400000000999'), false, 'accounts not listed are not served');
  assert.deepEqual(loaded.accounts.channels(), ['instagram', 'messenger']);
  const built = buildChannels(loaded, config, { graphApiUrl: 'http://127.0.0.1:9', onRetry: () => undefined });
  assert.equal(built.channels.get('instagram')?.type, 'instagram');
  built.close();
  // Dev mode (no configuration at all): one Instagram account through the built-in emulator.
  const dev = loadChannels(loadConfig({}));
  assert.deepEqual(dev.accounts.list().filter((a) => a.channel === 'instagram').length, 1);
});

test('any JSON under object "instagram" either parses or is refused with a WebhookInputError, never anything else', () => {
  const message = fc.record(
    {
      mid: fc.oneof(fc.string({ maxLength: 8 }), fc.integer()),
      text: fc.string({ maxLength: 20 }),
      is_echo: fc.boolean(),
      is_deleted: fc.jsonValue({ maxDepth: 1 }),
      is_unsupported: fc.boolean(),
      reply_to: fc.jsonValue({ maxDepth: 3 }),
      referral: fc.jsonValue({ maxDepth: 2 }),
      attachments: fc.jsonValue({ maxDepth: 3 }),
    },
    { requiredKeys: [] },
  );
  const ev = fc.record(
    { sender: fc.constant({ id: U }), recipient: fc.constant({ id: IG }), timestamp: fc.constant(TS), message, message_edit: fc.jsonValue({ maxDepth: 2 }), read: fc.jsonValue({ maxDepth: 2 }) },
    { requiredKeys: ['sender', 'recipient'] },
  );
  fc.assert(
    fc.property(fc.array(fc.oneof(ev, fc.jsonValue({ maxDepth: 3 })), { maxLength: 4 }), (messaging) => {
      try {
        for (const p of parseIg(wrap(...messaging)).events) {
          assert.equal(p.event.channel, 'instagram');
          assert.ok(typeof p.event.id === 'string' && p.event.id.length > 0);
        }
      } catch (err) {
        assert.ok(err instanceof WebhookInputError, `unexpected ${(err as Error)?.name}: ${(err as Error)?.message}`);
      }
    }),
    { numRuns: 2_000 },
  );
});

test('a message with an empty mid is keyed by its content, on Instagram and Messenger alike (an empty dedupe key would merge them all)', () => {
  const ig = parseIg(wrap({ ...base, message: { mid: '', text: 'a' } }, { ...base, message: { mid: '', text: 'b' } })).events.map((p) => p.event.id);
  const fb = parseIg({ object: 'page', entry: [{ id: '101', time: TS, messaging: [{ sender: { id: '9' }, recipient: { id: '101' }, timestamp: TS, message: { mid: '', text: 'a' } }] }] }).events[0]!.event.id;
  assert.ok(
    [...ig, fb].every((id) => /^h:[0-9a-f]{40}$/.test(id)),
    `${ig} ${fb}`,
  );
  assert.notEqual(ig[0], ig[1]);
});
