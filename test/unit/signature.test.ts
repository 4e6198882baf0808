import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encodeLikeFacebook, sign, verifySignature } from '../../src/channels/meta/signature';

const SECRET = 'app-secret';

test('X-Hub-Signature-256 over the exact bytes is accepted; any other bytes are not', () => {
  const raw = Buffer.from('{"object":"page","entry":[]}');
  assert.deepEqual(verifySignature(raw, sign(raw, SECRET), undefined, SECRET), { ok: true, algorithm: 'sha256' });
  const reformatted = Buffer.from('{"object": "page", "entry": []}');
  assert.equal(verifySignature(reformatted, sign(raw, SECRET), undefined, SECRET).ok, false);
  assert.equal(verifySignature(raw, sign(raw, 'other-secret'), undefined, SECRET).ok, false);
});

test('the legacy sha1 header counts only when the sha256 header is absent', () => {
  const raw = Buffer.from('{"a":1}');
  assert.equal(verifySignature(raw, undefined, sign(raw, SECRET, 'sha1'), SECRET).ok, true);
  // A wrong 256 header is not rescued by a right sha1 header.
  assert.equal(verifySignature(raw, 'sha256=' + '0'.repeat(64), sign(raw, SECRET, 'sha1'), SECRET).ok, false);
  assert.equal(verifySignature(raw, undefined, undefined, SECRET).ok, false);
  assert.equal(verifySignature(raw, 'sha1=abc', undefined, SECRET).ok, false, 'a sha1 value in the 256 header is malformed');
  assert.equal(verifySignature(raw, 'sha256=zz', undefined, SECRET).ok, false);
});

test('Facebook signs bodies with non-ASCII escaped as \\uXXXX and / as \\/', () => {
  const raw = encodeLikeFacebook({ text: 'héllo 👋 a/b' });
  assert.equal(raw, '{"text":"h\\u00e9llo \\ud83d\\udc4b a\\/b"}');
  assert.deepEqual(JSON.parse(raw), { text: 'héllo 👋 a/b' });
  assert.equal(verifySignature(Buffer.from(raw), sign(raw, SECRET), undefined, SECRET).ok, true);
  // Re-serialising the parsed body (unescaped UTF-8) would not match the signature.
  const reencoded = Buffer.from(JSON.stringify(JSON.parse(raw)));
  assert.equal(verifySignature(reencoded, sign(raw, SECRET), undefined, SECRET).ok, false);
});

test('a signature must be exactly 64 hex digits (sha256) or 40 (sha1): an extra digit is not dropped', () => {
  const raw = Buffer.from('{"object":"page","entry":[]}');
  const good = sign(raw, SECRET);
  for (const bad of [`${good}0`, `${good}f`, good.slice(0, -1), good.slice(0, -2), `${good}00`]) {
    const r = verifySignature(raw, bad, undefined, SECRET);
    assert.deepEqual(r, { ok: false, reason: 'malformed X-Hub-Signature-256 header' }, bad);
  }
  const good1 = sign(raw, SECRET, 'sha1');
  assert.equal(verifySignature(raw, undefined, good1, SECRET).ok, true);
  for (const bad of [`${good1}0`, good1.slice(0, -1)]) assert.deepEqual(verifySignature(raw, undefined, bad, SECRET), { ok: false, reason: 'malformed X-Hub-Signature header' }, bad);
  assert.equal(verifySignature(raw, good.toUpperCase().replace('SHA256=', 'sha256='), undefined, SECRET).ok, true, 'hex digits in either case');
});

test('with sha1 not allowed (FB_ALLOW_SHA1=false) the legacy header alone is refused; the sha256 one still counts', () => {
  const raw = Buffer.from('{"a":1}');
  const opts = { allowSha1: false };
  assert.deepEqual(verifySignature(raw, undefined, sign(raw, SECRET, 'sha1'), SECRET, opts), { ok: false, reason: 'missing X-Hub-Signature-256 header (sha1 signatures are not accepted: FB_ALLOW_SHA1=false)' });
  assert.deepEqual(verifySignature(raw, sign(raw, SECRET), sign(raw, SECRET, 'sha1'), SECRET, opts), { ok: true, algorithm: 'sha256' });
  assert.deepEqual(verifySignature(raw, undefined, sign(raw, SECRET, 'sha1'), SECRET, { allowSha1: true }), { ok: true, algorithm: 'sha1' });
});
