/**
 * Turns a verified Messenger webhook body into normalised events. The whole body is
 * validated before anything is queued: one bad event rejects the POST with a message
 * naming the offending path, so nothing is half-queued.
 */
import crypto from 'node:crypto';
import type { Attachment, EventKind, InboundEvent, ReplyMetadata } from './types';

export class WebhookInputError extends Error {
  override readonly name = 'WebhookInputError';
  constructor(message: string, readonly status = 400) {
    super(message);
  }
}

export interface ParsedEvent {
  event: InboundEvent;
  /** An echo of a reply we sent: confirms that reply went out (see the worker's crash recovery). */
  confirms?: ReplyMetadata;
  /** false for events that are recorded but need no worker (echo confirmations). */
  queue: boolean;
}

export interface ParseResult {
  events: ParsedEvent[];
  /** Events of kinds we do not know: counted and logged by the caller, never fatal. */
  unknown: { path: string; keys: string[]; raw: unknown }[];
}

type Obj = Record<string, unknown>;
const ID = /^[A-Za-z0-9_-]{1,128}$/;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

function id(v: unknown, path: string): string {
  const s = typeof v === 'number' ? String(v) : str(v);
  if (s === undefined) throw new WebhookInputError(`${path} is required`);
  if (!ID.test(s)) throw new WebhookInputError(`${path} must be an id of letters, digits, _ or -`);
  return s;
}

/** Strips undefined fields so stored payloads stay small and stable. */
function compact<T extends Obj>(o: T): T {
  for (const k of Object.keys(o)) if (o[k] === undefined) delete o[k];
  return o;
}

function parseAttachments(list: unknown): Attachment[] {
  if (!Array.isArray(list)) return [];
  return list.filter(isObj).map((a) => {
    const p = isObj(a.payload) ? a.payload : {};
    const coords = isObj(p.coordinates) ? p.coordinates : undefined;
    return compact({
      type: str(a.type) ?? 'unknown',
      url: str(p.url) ?? str(a.url),
      title: str(a.title) ?? str(p.title),
      stickerId: num(p.sticker_id),
      coordinates: coords && num(coords.lat) !== undefined && num(coords.long) !== undefined ? { lat: coords.lat as number, long: coords.long as number } : undefined,
    });
  });
}

function parseMetadata(s: string | undefined): ReplyMetadata | undefined {
  if (!s) return undefined;
  try {
    const m = JSON.parse(s) as Obj;
    if (typeof m.mid === 'string' && m.mid.length > 0 && m.mid.length <= 256 && Number.isInteger(m.i) && (m.i as number) >= 0) return { mid: m.mid, i: m.i as number };
  } catch {
    /* metadata set by another app: not ours */
  }
  return undefined;
}

const hashId = (raw: unknown) => `h:${crypto.createHash('sha1').update(JSON.stringify(raw)).digest('hex')}`;

/** Returns the normalised event, or undefined for an unknown kind. */
function normalise(ev: Obj, path: string, standby: boolean, receivedAt: number, entryTime: number | undefined): ParsedEvent | undefined {
  const sender = isObj(ev.sender) ? ev.sender : undefined;
  const recipient = isObj(ev.recipient) ? ev.recipient : undefined;
  if (!recipient) throw new WebhookInputError(`${path}.recipient is required`);
  const optin = isObj(ev.optin) ? ev.optin : undefined;
  // Checkbox-plugin opt-ins have no sender, only a user_ref; everything else must name one.
  if (!sender && !(optin && str(optin.user_ref))) throw new WebhookInputError(`${path}.sender is required`);
  const senderId = sender ? id(sender.id, `${path}.sender.id`) : id(optin!.user_ref, `${path}.optin.user_ref`);
  const recipientId = id(recipient.id, `${path}.recipient.id`);
  if (ev.timestamp !== undefined && num(ev.timestamp) === undefined) throw new WebhookInputError(`${path}.timestamp must be a number`);
  const timestamp = num(ev.timestamp) ?? entryTime ?? receivedAt;

  const message = isObj(ev.message) ? ev.message : undefined;
  const echo = message?.is_echo === true;
  const base = { pageId: echo ? senderId : recipientId, userId: echo ? recipientId : senderId, timestamp, standby, receivedAt };
  let kind: EventKind;
  let fields: Partial<InboundEvent> = {};
  let confirms: ReplyMetadata | undefined;

  if (message) {
    const mid = str(message.mid);
    if (mid === undefined) throw new WebhookInputError(`${path}.message.mid is required`);
    const attachments = parseAttachments(message.attachments);
    const quick = isObj(message.quick_reply) ? str(message.quick_reply.payload) : undefined;
    const replyTo = isObj(message.reply_to) ? str(message.reply_to.mid) : undefined;
    fields = { mid, text: str(message.text), replyTo };
    if (echo) {
      kind = 'echo';
      fields.metadata = str(message.metadata);
      fields.appId = num(message.app_id);
      if (attachments.length) fields.attachments = attachments;
      confirms = parseMetadata(fields.metadata);
    } else if (quick !== undefined) {
      kind = 'quick_reply';
      fields.payload = quick;
    } else if (attachments.length) {
      const first = attachments[0]!;
      kind = (first.stickerId !== undefined ? 'sticker' : first.type) as EventKind;
      fields.attachments = attachments;
    } else if (fields.text !== undefined) {
      kind = 'text';
    } else return undefined;
  } else if (isObj(ev.postback)) {
    const pb = ev.postback;
    kind = 'postback';
    const ref = isObj(pb.referral) ? pb.referral : undefined;
    fields = { mid: str(pb.mid), payload: str(pb.payload), title: str(pb.title), referral: ref ? compact({ ref: str(ref.ref), source: str(ref.source), type: str(ref.type) }) : undefined };
  } else if (isObj(ev.reaction)) {
    const r = ev.reaction;
    kind = 'reaction';
    fields = { reaction: compact({ reaction: str(r.reaction), emoji: str(r.emoji), action: str(r.action), mid: str(r.mid) }) };
  } else if (isObj(ev.referral)) {
    const r = ev.referral;
    kind = 'referral';
    fields = { referral: compact({ ref: str(r.ref), source: str(r.source), type: str(r.type) }) };
  } else if (optin) {
    kind = 'optin';
    fields = { optin: compact({ ref: str(optin.ref), userRef: str(optin.user_ref), type: str(optin.type), payload: str(optin.payload) }) };
  } else if (isObj(ev.delivery)) {
    kind = 'delivery';
    const mids = Array.isArray(ev.delivery.mids) ? ev.delivery.mids.filter((m): m is string => typeof m === 'string') : undefined;
    fields = { watermark: num(ev.delivery.watermark), mids };
  } else if (isObj(ev.read)) {
    kind = 'read';
    fields = { watermark: num(ev.read.watermark) };
  } else return undefined;

  const event = compact({ id: fields.mid ?? hashId(ev), kind, ...base, ...fields } as InboundEvent & Obj) as InboundEvent;
  return { event, queue: confirms === undefined, ...(confirms ? { confirms } : {}) };
}

export function parseWebhook(body: unknown, receivedAt = Date.now()): ParseResult {
  if (!isObj(body)) throw new WebhookInputError('body must be a JSON object');
  if (body.object !== 'page') throw new WebhookInputError(`object must be "page", got ${JSON.stringify(body.object ?? null)}`);
  if (!Array.isArray(body.entry)) throw new WebhookInputError('entry must be an array');
  const result: ParseResult = { events: [], unknown: [] };
  body.entry.forEach((entry: unknown, i: number) => {
    if (!isObj(entry)) throw new WebhookInputError(`entry[${i}] must be an object`);
    const entryTime = num(entry.time);
    for (const field of ['messaging', 'standby'] as const) {
      const list = entry[field];
      if (list === undefined) continue;
      if (!Array.isArray(list)) throw new WebhookInputError(`entry[${i}].${field} must be an array`);
      list.forEach((ev: unknown, j: number) => {
        const path = `entry[${i}].${field}[${j}]`;
        if (!isObj(ev)) throw new WebhookInputError(`${path} must be an object`);
        const parsed = normalise(ev, path, field === 'standby', receivedAt, entryTime);
        if (parsed) result.events.push(parsed);
        else result.unknown.push({ path, keys: Object.keys(ev).filter((k) => !['sender', 'recipient', 'timestamp'].includes(k)), raw: ev });
      });
    }
  });
  return result;
}
