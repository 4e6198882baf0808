/** Web chat's pure parts: site entries and origins, visitor tokens and identity, rendering, frames. */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { loadChannels } from '../../src/channels/registry';
import { parseFrame, FrameError, LIMITS } from '../../src/channels/webchat/protocol';
import { renderWebchat } from '../../src/channels/webchat/render';
import { originAllowed, parseOriginPattern } from '../../src/channels/webchat/sites';
import { identityHash, verifyIdentity, VisitorTokens } from '../../src/channels/webchat/tokens';
import { ConfigError, loadConfig } from '../../src/config';
import { signNotification } from '../../src/channels/webchat/notify';

function channels(list: unknown[]): string {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'wc-')), 'channels.json');
  fs.writeFileSync(file, JSON.stringify({ channels: list }));
  return file;
}

test('a web chat site in CHANNELS_FILE: every mistake of an entry is named at once', () => {
  const config = loadConfig({
    CHANNELS_FILE: channels([
      { type: 'webchat', id: 'bad', origins: ['https://Shop.example', 'https://shop.example/', '*', 'ftp://x.example', 'https://shop.example:99999'], identitySecret: 'short', notifyUrl: 'mailto:x', origin: 'typo' },
      { type: 'webchat', id: 'nosecret', origins: ['https://a.example'], notifyUrl: 'https://a.example/hook' },
      { type: 'webchat', id: 'nourl', origins: [], notifySecret: 'a-long-enough-secret-1' },
    ]),
  });
  let err: unknown;
  try {
    loadChannels(config);
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof ConfigError);
  const text = err.problems.join('\n');
  for (let i = 0; i < 5; i++) assert.match(text, new RegExp(`channels\\[0\\]\\.origins\\[${i}\\] .* is not an origin`), `origins[${i}]`);
  assert.match(text, /channels\[0\]\.identitySecret must be a string of at least 16 characters/);
  assert.match(text, /channels\[0\]\.notifyUrl must be an http\(s\) URL/);
  assert.match(text, /channels\[0\] has "origin": a webchat entry takes only name, origins, identitySecret, notifyUrl, notifySecret/);
  assert.match(text, /channels\[1\]\.notifySecret must be a string of at least 16 characters when notifyUrl is set/);
  assert.match(text, /channels\[2\]\.origins must be an array of 1 to 50 origins/);
  assert.match(text, /channels\[2\]\.notifySecret is set but notifyUrl is not/);
});

test('a good site is served; dev mode has one for pages on this machine; production has none it was not given', () => {
  const loaded = loadChannels(
    loadConfig({
      CHANNELS_FILE: channels([
        { type: 'webchat', id: 'shop', name: 'Shop', origins: ['https://shop.example', 'https://*.shop.example'], identitySecret: 'a-long-enough-secret-1', notifyUrl: 'https://shop.example/hook', notifySecret: 'another-long-secret-2' },
      ]),
    }),
  );
  const site = loaded.settings.webchat.sites.get('shop')!;
  assert.deepEqual([site.name, site.origins.length, site.identitySecret, site.notify], ['Shop', 2, 'a-long-enough-secret-1', { url: 'https://shop.example/hook', secret: 'another-long-secret-2' }]);
  assert.ok(loaded.accounts.serves('webchat', 'shop'));
  assert.ok(!loaded.accounts.serves('webchat', 'dev-site'), 'a configured deployment has no dev site');
  const dev = loadChannels(loadConfig({}));
  assert.ok(dev.accounts.serves('webchat', 'dev-site'));
  assert.ok(originAllowed('http://localhost:5173', dev.settings.webchat.sites.get('dev-site')!.origins));
  assert.ok(originAllowed('http://127.0.0.1:3000', dev.settings.webchat.sites.get('dev-site')!.origins));
});

test('the example CHANNELS_FILE of the Kubernetes package is one the app starts with', () => {
  const loaded = loadChannels(loadConfig({ CHANNELS_FILE: path.join(__dirname, '..', '..', 'k8s', 'examples', 'files', 'channels.json') }));
  assert.ok(loaded.settings.webchat.sites.get('shop-site')!.origins.length > 0);
});

test('origin patterns match as CSP source expressions do: exact origin, any port, subdomains', () => {
  const p = (...s: string[]) => s.map((x) => parseOriginPattern(x)!);
  assert.ok(originAllowed('https://shop.example', p('https://shop.example')));
  assert.ok(originAllowed('https://shop.example', p('https://shop.example:443')), 'the default port is the same origin');
  assert.ok(!originAllowed('https://shop.example:8443', p('https://shop.example')));
  assert.ok(!originAllowed('http://shop.example', p('https://shop.example')), 'another scheme is another origin');
  assert.ok(!originAllowed('https://evilshop.example', p('https://shop.example')));
  assert.ok(!originAllowed('https://shop.example.evil.example', p('https://shop.example')));
  assert.ok(originAllowed('http://localhost:5173', p('http://localhost:*')));
  assert.ok(!originAllowed('http://localhost.evil.example:5173', p('http://localhost:*')));
  assert.ok(originAllowed('https://eu.shop.example', p('https://*.shop.example')));
  assert.ok(originAllowed('https://a.b.shop.example', p('https://*.shop.example')));
  assert.ok(!originAllowed('https://shop.example', p('https://*.shop.example')), 'a subdomain pattern does not cover the domain itself');
  assert.ok(originAllowed('http://[::1]:8080', p('http://[::1]:*')));
  for (const bad of ['null', '', 'file://', 'https://shop.example/path', 'javascript:alert(1)']) assert.ok(!originAllowed(bad, p('https://shop.example', 'http://localhost:*')), bad);
  for (const bad of ['*', 'https://*', 'https://shop.example/', 'HTTPS://shop.example', 'https://shop.example:0', 'https://a.*.example', 'wss://shop.example']) assert.equal(parseOriginPattern(bad), undefined, bad);
});

test('visitor tokens: a visitor opens only their own conversation, on their own site', () => {
  let now = Date.UTC(2026, 0, 1);
  const tokens = new VisitorTokens(Buffer.alloc(32, 7), () => now);
  const { visitor, token } = tokens.anonymous('shop');
  assert.match(visitor.user, /^v-[A-Za-z0-9_-]{22}$/);
  assert.deepEqual(tokens.verify(token, 'shop'), { visitor });
  assert.deepEqual(tokens.verify(token, 'other'), { error: 'token is for another site' });
  const [v, payload, sig] = token.split('.');
  const forged = Buffer.from(JSON.stringify({ s: 'shop', u: 'v-someone-else', i: 1 })).toString('base64url');
  assert.deepEqual(tokens.verify(`${v}.${forged}.${sig}`, 'shop'), { error: 'token signature is not valid' }, 'another visitor id needs another signature');
  assert.deepEqual(new VisitorTokens(Buffer.alloc(32, 8)).verify(token, 'shop'), { error: 'token signature is not valid' }, "another deployment's key");
  assert.deepEqual(tokens.verify(`${v}.${payload}`, 'shop'), { error: 'token signature is not valid' });
  assert.deepEqual(tokens.verify(42, 'shop'), { error: 'token must be a string' });
  now += 365 * 24 * 3_600_000;
  assert.ok('visitor' in tokens.verify(token, 'shop'), 'an anonymous visitor keeps their conversation');
  const identified = tokens.issue({ site: 'shop', user: 'u-42', identified: true });
  assert.deepEqual(tokens.verify(identified, 'shop'), { visitor: { site: 'shop', user: 'u-42', identified: true } });
  now += 25 * 3_600_000;
  assert.deepEqual(tokens.verify(identified, 'shop'), { error: 'token expired' }, 'an identified visitor proves who they are again every day');
});

test('identity: the hex HMAC-SHA256 of the user id with the site secret (RFC 4231 case 2), checked in constant time', () => {
  assert.equal(identityHash('Jefe', 'what do ya want for nothing?'), '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843');
  const site = { id: 'shop', identitySecret: 'shop-identity-secret-0123456789' };
  const hash = identityHash(site.identitySecret, 'alice@shop.example');
  assert.deepEqual(verifyIdentity(site, 'alice@shop.example', hash), { visitor: { site: 'shop', user: 'u-alice@shop.example', identified: true } });
  assert.deepEqual(verifyIdentity(site, 'alice@shop.example', hash.toUpperCase()), { visitor: { site: 'shop', user: 'u-alice@shop.example', identified: true } });
  assert.deepEqual(verifyIdentity(site, 'bob@shop.example', hash), { error: 'identity.userHash does not match userId' });
  assert.match((verifyIdentity(site, 'a b', hash) as { error: string }).error, /userId must be/);
  assert.match((verifyIdentity(site, 'alice', 'xyz') as { error: string }).error, /64 hex digits/);
  assert.match((verifyIdentity({ id: 'plain' }, 'alice', hash) as { error: string }).error, /no identitySecret/);
});

test('rendering: within the widget limits, what changed is reported, links only over http(s)', () => {
  const long = 'word '.repeat(1_000).trim();
  const r = renderWebchat([
    { text: long, quickReplies: Array.from({ length: 12 }, (_, i) => ({ title: `choice number ${i} with a rather long label, longer than forty`, payload: `P${i}` })) },
    { text: 'Links', buttons: [...Array.from({ length: 6 }, (_, i) => ({ title: `b${i}`, payload: `B${i}` })), { title: 'evil', url: 'javascript:alert(1)' }] },
    { attachment: { type: 'image', url: 'https://cdn.example/cat.png', name: 'cat' } },
    { attachment: { type: 'file', url: 'data:text/html,hi' } },
  ]);
  assert.deepEqual(
    r.messages.map((m) => m.kind),
    ['text', 'quick_replies', 'buttons', 'attachment'],
  );
  assert.ok(r.messages.every((m) => (m.body.text ?? '').length <= 4_000));
  assert.equal(r.messages[0]!.body.text! + ' ' + r.messages[1]!.body.text!, long);
  assert.equal(r.messages[1]!.body.quickReplies!.length, 10);
  assert.equal(r.messages[1]!.body.quickReplies![0]!.title.length, 40);
  assert.equal(r.messages[2]!.body.buttons!.length, 5);
  assert.ok(!JSON.stringify(r).includes('javascript:'));
  assert.deepEqual(r.messages[3]!.body, { attachment: { type: 'image', url: 'https://cdn.example/cat.png', name: 'cat' } });
  assert.deepEqual(r.adjustments, [
    'text split in 2 messages (reply 1)',
    '12 quick replies cut to 10 (reply 1)',
    'labels shortened to 40 characters (reply 1)',
    '7 buttons cut to 5 (reply 2)',
    'attachment without an http(s) URL dropped (reply 4)',
  ]);
  assert.deepEqual(renderWebchat([{ text: 'hi' }]), renderWebchat([{ text: 'hi' }]), 'deterministic');
});

test('frames: a bad frame is named precisely; good ones parse', () => {
  const bad = (raw: string, message: RegExp) =>
    assert.throws(
      () => parseFrame(raw),
      (e: unknown) => e instanceof FrameError && message.test(e.message),
      raw,
    );
  bad('nope', /frame must be a JSON object/);
  bad('[1]', /frame must be a JSON object/);
  bad('{"t":"shout"}', /t="shout" is not one of hello, msg, ack, read, typing, ping/);
  bad('{"t":"msg","id":"x","text":"hi"}', /msg\.id must be 8-64 letters/);
  bad('{"t":"msg","id":"abcdefgh","text":"  "}', /msg\.text must be a non-empty string/);
  bad(JSON.stringify({ t: 'msg', id: 'abcdefgh', text: 'x'.repeat(LIMITS.maxText + 1) }), /msg\.text must be at most 2000 characters/);
  bad('{"t":"msg","id":"abcdefgh","text":"hi","kind":"quick_reply"}', /msg\.payload must be a non-empty string/);
  bad('{"t":"ack","id":"latest"}', /ack\.id must be a transcript entry id/);
  bad('{"t":"hello","after":"yesterday"}', /hello\.after must be a transcript entry id/);
  bad('{"t":"hello","v":2}', /hello\.v must be 1/);
  bad('{"t":"typing","on":"yes"}', /typing\.on must be true or false/);
  assert.deepEqual(parseFrame('{"t":"msg","id":"abcdefgh","text":"Track","kind":"quick_reply","payload":"TRACK"}'), { t: 'msg', id: 'abcdefgh', kind: 'quick_reply', text: 'Track', payload: 'TRACK' });
  assert.deepEqual(parseFrame('{"t":"hello","v":1,"token":"v1.x.y","after":"1700000000000-3","origin":"https://shop.example"}'), { t: 'hello', token: 'v1.x.y', after: '1700000000000-3', origin: 'https://shop.example' });
});

test('notifications are signed over the exact body (HMAC-SHA256, hex)', () => {
  assert.equal(signNotification('The quick brown fox jumps over the lazy dog', 'key'), 'sha256=f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8');
});
