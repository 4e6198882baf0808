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
