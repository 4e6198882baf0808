/**
 * LINE's side of a webhook, for the fake, the tests and the bench: events in the documented
 * shape (developers.line.biz/en/reference/messaging-api/#webhook-event-objects), the body
 * `{"destination","events"}` serialised as LINE sends it (compact JSON, UTF-8 as is) and signed
 * over those exact bytes, and delivery with LINE's redelivery: a POST not answered 2xx is sent
 * again with every event's `deliveryContext.isRedelivery` set to true (and signed anew).
 */
import crypto from 'node:crypto';
import http from 'node:http';
import { signLine } from '../channels/line/signature';

export type LineEvent = Record<string, unknown>;

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/** A ULID, the format of `webhookEventId`: 48 bits of time then 80 random bits, Crockford base32. */
export function ulid(now = Date.now()): string {
  let t = now;
  let time = '';
  for (let i = 0; i < 10; i++) {
    time = CROCKFORD[t % 32]! + time;
    t = Math.floor(t / 32);
  }
  const rand = crypto.randomBytes(16);
  return time + Array.from({ length: 16 }, (_, i) => CROCKFORD[rand[i]! % 32]).join('');
}

let messageSeq = 0n;
/** A message id as LINE writes them: a decimal string of 18 digits. */
export const messageId = (): string => (444_573_844_083_572_737n + ++messageSeq).toString();

export interface EventOptions {
  timestamp?: number;
  webhookEventId?: string;
  mode?: 'active' | 'standby';
  isRedelivery?: boolean;
  source?: Record<string, unknown>;
}

/** The common properties of a webhook event object, for a one-on-one chat with `user`. */
export function lineEvent(type: string, user: string, fields: Record<string, unknown>, o: EventOptions = {}): LineEvent {
  return {
    type,
    ...fields,
    webhookEventId: o.webhookEventId ?? ulid(),
    deliveryContext: { isRedelivery: o.isRedelivery ?? false },
    timestamp: o.timestamp ?? Date.now(),
    source: o.source ?? { type: 'user', userId: user },
    mode: o.mode ?? 'active',
  };
}

const token = (n: number) => crypto.randomBytes(n).toString('base64url');

/** A text message event, as LINE delivers a user's message. */
export function textEvent(user: string, text: string, o: EventOptions & { messageId?: string } = {}): LineEvent {
  return lineEvent(
    'message',
    user,
    {
      replyToken: crypto.randomBytes(16).toString('hex'),
      message: { id: o.messageId ?? messageId(), type: 'text', quoteToken: token(24), markAsReadToken: token(16), text },
    },
    o,
  );
}

/** A postback event (a tapped button or quick reply with a postback action). */
export function postbackEvent(user: string, data: string, o: EventOptions & { params?: Record<string, string> } = {}): LineEvent {
  return lineEvent('postback', user, { replyToken: crypto.randomBytes(16).toString('hex'), postback: { data, ...(o.params ? { params: o.params } : {}) } }, o);
}

export const webhookBody = (destination: string, events: LineEvent[]) => ({ destination, events });

/** The exact bytes LINE would POST and the headers it sends with them. */
export function signedLineRequest(destination: string, events: LineEvent[], channelSecret: string): { raw: string; headers: Record<string, string> } {
  const raw = JSON.stringify(webhookBody(destination, events));
  return { raw, headers: { 'content-type': 'application/json; charset=utf-8', 'x-line-signature': signLine(raw, channelSecret) } };
}

/** The same events as LINE redelivers them: `isRedelivery` true, everything else unchanged. */
export const redelivered = (events: LineEvent[]): LineEvent[] => events.map((e) => ({ ...e, deliveryContext: { isRedelivery: true } }));

export function postRaw(url: string, raw: string, headers: Record<string, string>, agent?: http.Agent): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'POST', ...(agent ? { agent } : {}), headers: { ...headers, 'content-length': Buffer.byteLength(raw) } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(raw);
  });
}

/**
 * Delivers events to a webhook as LINE does with redelivery on: a POST that fails or is not
 * answered 2xx is sent again (events marked as redelivered), up to `attempts` times.
 */
export async function deliver(url: string, destination: string, events: LineEvent[], channelSecret: string, o: { attempts?: number; agent?: http.Agent } = {}): Promise<number> {
  let status = 0;
  let batch = events;
  for (let attempt = 0; attempt < (o.attempts ?? 12); attempt++) {
    const { raw, headers } = signedLineRequest(destination, batch, channelSecret);
    try {
      status = await postRaw(url, raw, headers, o.agent);
      if (status >= 200 && status < 300) return status;
    } catch {
      status = 0; // the server is down: retry
    }
    batch = redelivered(events);
    await new Promise((r) => setTimeout(r, Math.min(5_000, 200 * 2 ** attempt)));
  }
  return status;
}
