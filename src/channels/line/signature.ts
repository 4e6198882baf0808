/**
 * LINE's webhook signature: `X-Line-Signature` is the base64 HMAC-SHA256 of the exact bytes
 * of the POST body, keyed with the channel secret of the channel the body is for
 * (developers.line.biz/en/docs/messaging-api/receiving-messages/#verify-signature).
 */
import crypto from 'node:crypto';

export type LineSignatureCheck = { ok: true } | { ok: false; reason: string };

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/** Checks the header against the HMAC of `raw`, in constant time. */
export function verifyLineSignature(raw: Buffer, header: string | undefined, channelSecret: string): LineSignatureCheck {
  if (header === undefined || header === '') return { ok: false, reason: 'missing X-Line-Signature header' };
  const given = header.trim();
  if (!BASE64.test(given)) return { ok: false, reason: 'malformed X-Line-Signature header (base64 expected)' };
  const expected = crypto.createHmac('sha256', channelSecret).update(raw).digest();
  const b = Buffer.from(given, 'base64');
  // timingSafeEqual needs equal lengths; the length of a SHA-256 digest is public anyway.
  return b.length === expected.length && crypto.timingSafeEqual(expected, b) ? { ok: true } : { ok: false, reason: 'signature does not match the body' };
}

/** What LINE puts in `X-Line-Signature` for these bytes (the fake and the tests sign with it). */
export function signLine(raw: Buffer | string, channelSecret: string): string {
  return crypto.createHmac('sha256', channelSecret).update(raw).digest('base64');
}
