/**
 * Property-based tests (fast-check) of what stands between the internet and the queue:
 * arbitrary bodies and headers never crash the parser or the signature check, nothing is
 * accepted without the right signature, and every valid event is normalised.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { WebhookInputError } from '../../src/channels/event';
import { encodeLikeFacebook, sign, verifySignature } from '../../src/channels/meta/signature';
import { parseWebhook } from '../helpers/fb';

const SECRET = 'fuzz-secret';
const id = fc.stringMatching(/^[0-9]{1,20}$/);
const text = fc.string({ maxLength: 200, unit: 'grapheme' });

test('the signature check never throws, and accepts only the HMAC of the exact bytes', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 512 }), fc.option(fc.string({ maxLength: 100 })), fc.option(fc.string({ maxLength: 100 })), (bytes, h256, h1) => {
      const raw = Buffer.from(bytes);
      const r = verifySignature(raw, h256 ?? undefined, h1 ?? undefined, SECRET);
      const right256 = h256 === sign(raw, SECRET);
      const right1 = h256 === null && h1 === sign(raw, SECRET, 'sha1');
      assert.equal(r.ok, right256 || right1);
    }),
    { numRuns: 2_000 },
  );
  // And the right signature over any body is always accepted.
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 512 }), (bytes) => verifySignature(Buffer.from(bytes), sign(Buffer.from(bytes), SECRET), undefined, SECRET).ok),
    { numRuns: 500 },
  );
});

test('any JSON value either parses or is rejected with a WebhookInputError, never anything else', () => {
  const entryish = fc.record(
    { id: fc.oneof(id, fc.integer()), time: fc.oneof(fc.integer(), fc.string()), messaging: fc.oneof(fc.array(fc.jsonValue({ maxDepth: 3 }), { maxLength: 4 }), fc.jsonValue({ maxDepth: 2 })) },
    { requiredKeys: [] },
  );
  const bodyish = fc.oneof(fc.jsonValue({ maxDepth: 4 }), fc.record({ object: fc.constantFrom('page', 'instagram', 1), entry: fc.oneof(fc.array(entryish, { maxLength: 3 }), fc.jsonValue({ maxDepth: 2 })) }, { requiredKeys: [] }));
  fc.assert(
    fc.property(bodyish, (body) => {
      try {
        const r = parseWebhook(body);
        for (const p of r.events) {
          assert.equal(typeof p.event.id, 'string');
          assert.ok(p.event.id.length > 0);
          assert.equal(p.event.channel, 'messenger');
          assert.match(p.event.account, /^[A-Za-z0-9_-]+$/);
          assert.match(p.event.user, /^[A-Za-z0-9_-]+$/);
          assert.ok(Number.isFinite(p.event.timestamp));
        }
      } catch (err) {
        assert.ok(err instanceof WebhookInputError, `unexpected ${(err as Error)?.name}: ${(err as Error)?.message}`);
        assert.ok(err.message.length > 0);
      }
    }),
    { numRuns: 3_000 },
  );
});

test('every valid event of a batched body is normalised, with its text intact after Facebook-style escaping', () => {
  const event = fc.record({ page: id, user: id, ts: fc.integer({ min: 1, max: 2 ** 45 }), mid: fc.stringMatching(/^m_[A-Za-z0-9_-]{1,40}$/), body: text, kind: fc.constantFrom('text', 'quick_reply', 'postback', 'image', 'location') });
  fc.assert(
    fc.property(fc.uniqueArray(event, { selector: (e) => e.mid, maxLength: 12 }), (events) => {
      const messaging = events.map((e) => {
        const base = { sender: { id: e.user }, recipient: { id: e.page }, timestamp: e.ts };
        switch (e.kind) {
          case 'quick_reply':
            return { ...base, message: { mid: e.mid, text: e.body, quick_reply: { payload: e.body } } };
          case 'postback':
            return { ...base, postback: { mid: e.mid, title: e.body, payload: e.body } };
          case 'image':
            return { ...base, message: { mid: e.mid, attachments: [{ type: 'image', payload: { url: `https://cdn.example/${e.mid}.png` } }] } };
          case 'location':
            return { ...base, message: { mid: e.mid, attachments: [{ type: 'location', payload: { coordinates: { lat: 1.5, long: -2.25 } } }] } };
          default:
            return { ...base, message: { mid: e.mid, text: e.body } };
        }
      });
      const raw = encodeLikeFacebook({ object: 'page', entry: [{ id: '1', time: 1, messaging }] });
      assert.ok(/^[\x00-\x7f]*$/.test(raw), 'the wire body is ASCII');
      const r = parseWebhook(JSON.parse(raw));
      assert.equal(r.events.length, events.length);
      assert.deepEqual(r.unknown, []);
      r.events.forEach((p, i) => {
        const e = events[i]!;
        assert.deepEqual([p.event.id, p.event.kind, p.event.account, p.event.user, p.event.timestamp], [e.mid, e.kind, e.page, e.user, e.ts]);
        if (e.kind === 'text' || e.kind === 'quick_reply') assert.equal(p.event.text, e.body);
        if (e.kind === 'postback') assert.deepEqual([p.event.payload, p.event.title], [e.body, e.body]);
      });
    }),
    { numRuns: 500 },
  );
});
