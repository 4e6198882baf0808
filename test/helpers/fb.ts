/** Webhook fixtures in Facebook's wire format, signed over the exact bytes sent, as Facebook does. */
import type { ParseResult } from '../../src/channels/event';
import { MetaIngress } from '../../src/channels/meta/ingress';
import { encodeLikeFacebook, sign } from '../../src/channels/meta/signature';
import { parseMessengerWebhook } from '../../src/channels/messenger/channel';

export const APP_SECRET = 'test-app-secret-0123456789';
export const VERIFY_TOKEN = 'test-verify-token';

type Ev = Record<string, unknown>;

/**
 * Fixture times: small numbers are offsets from a minute before the suite started, so
 * tests can write 1, 2, 3 and still send messages inside Messenger's 24-hour window.
 */
const T0 = Date.now() - 60_000;
export const at = (ts: number) => (ts < 1e12 ? T0 + ts : ts);

export const text = (page: string, user: string, ts: number, mid: string, body: string): Ev => ({
  sender: { id: user },
  recipient: { id: page },
  timestamp: at(ts),
  message: { mid, text: body },
});

export const postback = (page: string, user: string, ts: number, payload: string, title: string, mid?: string): Ev => ({
  sender: { id: user },
  recipient: { id: page },
  timestamp: at(ts),
  postback: { title, payload, ...(mid ? { mid } : {}) },
});

/** Groups events into entries per page, as Facebook batches them. */
export function body(events: Ev[]): Record<string, unknown> {
  const byPage = new Map<string, Ev[]>();
  for (const e of events) {
    const msg = e.message as { is_echo?: boolean } | undefined;
    const page = String(((msg?.is_echo ? e.sender : e.recipient) as { id: string }).id);
    byPage.set(page, [...(byPage.get(page) ?? []), e]);
  }
  return { object: 'page', entry: [...byPage].map(([id, messaging]) => ({ id, time: Date.now(), messaging })) };
}

export interface PostOptions {
  secret?: string;
  /** Only the legacy sha1 header, as very old subscriptions get. */
  legacyOnly?: boolean;
  unsigned?: boolean;
  headers?: Record<string, string>;
  /** Another path than /webhook (query included). */
  path?: string;
}

/** POSTs raw bytes with both signature headers (like Facebook) unless told otherwise. */
export async function postRaw(baseUrl: string, raw: string | Buffer, opts: PostOptions = {}): Promise<{ status: number; body: any }> {
  const secret = opts.secret ?? APP_SECRET;
  const signed = opts.unsigned ? {} : { ...(opts.legacyOnly ? {} : { 'x-hub-signature-256': sign(raw, secret) }), 'x-hub-signature': sign(raw, secret, 'sha1') };
  const headers: Record<string, string> = { 'content-type': 'application/json', ...signed, ...opts.headers };
  const res = await fetch(`${baseUrl}${opts.path ?? '/webhook'}`, { method: 'POST', body: raw, headers });
  const textBody = await res.text();
  let parsed: unknown = textBody;
  try {
    parsed = JSON.parse(textBody);
  } catch {
    /* not JSON */
  }
  return { status: res.status, body: parsed };
}

export const post = (baseUrl: string, b: unknown, opts: PostOptions = {}) => postRaw(baseUrl, encodeLikeFacebook(b), opts);

/**
 * A body through POST /webhook's own checks and parser (Meta's ingress with Messenger's
 * parser), signed as Facebook signs it: what the gateway makes of it, without the HTTP.
 */
export function parseWebhook(b: unknown, receivedAt = Date.now()): ParseResult {
  const raw = Buffer.from(encodeLikeFacebook(b));
  const headers: Record<string, string> = { 'x-hub-signature-256': sign(raw, APP_SECRET) };
  return messengerIngress.accept(raw, (name) => headers[name], receivedAt);
}
const messengerIngress = new MetaIngress({ appSecret: APP_SECRET, verifyToken: VERIFY_TOKEN, parsers: new Map([['page', parseMessengerWebhook]]) });
