/**
 * The `X-Line-Retry-Key` of a reply: a name-based UUID (RFC 4122 version 5: SHA-1 of a
 * namespace and a name) of the account and the ledger's idempotency key (`<event id>#<reply
 * index>`). The same reply always gets the same key, in every process and after any crash,
 * so a resend is answered 409 ("already accepted") instead of reaching the user twice. LINE
 * asks for a hexadecimal UUID and remembers a key for 24 hours
 * (developers.line.biz/en/docs/messaging-api/retrying-api-request/).
 */
import crypto from 'node:crypto';

/** RFC 4122's URL namespace; the name below starts with this project's own prefix. */
const NAMESPACE = Buffer.from('6ba7b8119dad11d180b400c04fd430c8', 'hex');

export function nameUuid(name: string): string {
  const h = crypto.createHash('sha1').update(NAMESPACE).update(name, 'utf8').digest();
  h[6] = (h[6]! & 0x0f) | 0x50; // version 5
  h[8] = (h[8]! & 0x3f) | 0x80; // RFC 4122 variant
  const x = h.subarray(0, 16).toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

/** The retry key of reply `idempotencyKey` of an account (the bot's user id). */
export const lineRetryKey = (account: string, idempotencyKey: string): string => nameUuid(`ordered-chatbot:line:${account}:${idempotencyKey}`);

export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
