/**
 * The Messenger Platform's `messaging` / `standby` events (Messenger pages, and Instagram
 * accounts, which use the same wire format with a few additions a `MessagingDialect` reads),
 * parsed into neutral events. The whole body is
 * validated before anything is queued: one bad event rejects the POST with a message naming
 * the offending path, so nothing is half-queued.
 */
import crypto from 'node:crypto';
import { parseReplyToken, WebhookInputError, type Attachment, type EventKind, type InboundEvent, type ParsedEvent, type ParseResult, type ReplyRef } from '../event';

type Obj = Record<string, unknown>;
const ID = /^[A-Za-z0-9_-]{1,128}$/;
export const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
export const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
export const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

export function id(v: unknown, path: string): string {
  const s = typeof v === 'number' ? String(v) : str(v);
  if (s === undefined) throw new WebhookInputError(`${path} is required`);
  if (!ID.test(s)) throw new WebhookInputError(`${path} must be an id of letters, digits, _ or -`);
  return s;
}

/** Strips undefined fields so stored payloads stay small and stable. */
export function compact<T extends Obj>(o: T): T {
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

export const hashId = (raw: unknown): string => `h:${crypto.createHash('sha1').update(JSON.stringify(raw)).digest('hex')}`;

type Fields = Partial<InboundEvent> & { confirms?: ReplyRef; confirmsKey?: string };
export type Reading = { kind: EventKind; fields: Fields };

/**
 * What a platform adds to the Messenger Platform's format (Instagram's story replies,
 * unsends, edits, echoes without metadata). Without one, the format is read as Messenger's.
 */
export interface MessagingDialect {
  /** Reads a `message` given the common reading of it (undefined: a kind the common reading does not know). */
  message?(message: Obj, common: Reading | undefined, path: string, echo: boolean): Reading | undefined;
  /** Reads an event that is not a `message` and that the common reading does not know. */
  other?(ev: Obj, path: string): Reading | undefined;
}

function messageFields(message: Obj, path: string, echo: boolean): Reading | undefined {
  const mid = str(message.mid);
  if (mid === undefined) throw new WebhookInputError(`${path}.message.mid is required`);
  const attachments = parseAttachments(message.attachments);
  const quick = isObj(message.quick_reply) ? str(message.quick_reply.payload) : undefined;
  const replyTo = isObj(message.reply_to) ? str(message.reply_to.mid) : undefined;
  const fields: Fields = { mid, text: str(message.text), replyTo };
  if (echo) {
    fields.metadata = str(message.metadata);
    fields.appId = num(message.app_id);
    if (attachments.length) fields.attachments = attachments;
    const ref = parseReplyToken(fields.metadata);
    if (ref) fields.confirms = ref;
    return { kind: 'echo', fields };
  }
  if (quick !== undefined) return { kind: 'quick_reply', fields: { ...fields, payload: quick } };
  if (attachments.length) {
    const first = attachments[0]!;
    return { kind: (first.stickerId !== undefined ? 'sticker' : first.type) as EventKind, fields: { ...fields, attachments } };
  }
  if (fields.text !== undefined) return { kind: 'text', fields };
  return undefined;
}

function otherFields(ev: Obj, optin: Obj | undefined): Reading | undefined {
  if (isObj(ev.postback)) {
    const pb = ev.postback;
    const ref = isObj(pb.referral) ? pb.referral : undefined;
    return { kind: 'postback', fields: { mid: str(pb.mid), payload: str(pb.payload), title: str(pb.title), referral: ref ? compact({ ref: str(ref.ref), source: str(ref.source), type: str(ref.type) }) : undefined } };
  }
  if (isObj(ev.reaction)) {
    const r = ev.reaction;
    return { kind: 'reaction', fields: { reaction: compact({ reaction: str(r.reaction), emoji: str(r.emoji), action: str(r.action), mid: str(r.mid) }) } };
  }
  if (isObj(ev.referral)) {
    const r = ev.referral;
    return { kind: 'referral', fields: { referral: compact({ ref: str(r.ref), source: str(r.source), type: str(r.type) }) } };
  }
  if (optin) return { kind: 'optin', fields: { optin: compact({ ref: str(optin.ref), userRef: str(optin.user_ref), type: str(optin.type), payload: str(optin.payload) }) } };
  if (isObj(ev.delivery)) {
    const mids = Array.isArray(ev.delivery.mids) ? ev.delivery.mids.filter((m): m is string => typeof m === 'string') : undefined;
    return { kind: 'delivery', fields: { watermark: num(ev.delivery.watermark), mids } };
  }
  for (const kind of ['pass_thread_control', 'take_thread_control', 'request_thread_control'] as const) {
    const t = ev[kind];
    if (!isObj(t)) continue;
    const app = (v: unknown) => (typeof v === 'number' ? String(v) : str(v));
    const thread = compact({ newOwner: app(t.new_owner_app_id), previousOwner: app(t.previous_owner_app_id), requestedOwner: app(t.requested_owner_app_id), metadata: str(t.metadata) });
    return { kind, fields: { thread } };
  }
  if (isObj(ev.read)) return { kind: 'read', fields: { watermark: num(ev.read.watermark), ...(str(ev.read.mid) ? { mids: [str(ev.read.mid)!] } : {}) } };
  return undefined;
}

/** Returns the normalised event, or undefined for an unknown kind. */
function normalise(channel: string, ev: Obj, path: string, standby: boolean, receivedAt: number, entryTime: number | undefined, dialect?: MessagingDialect): ParsedEvent | undefined {
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
  let parsed = message ? messageFields(message, path, echo) : otherFields(ev, optin);
  if (dialect?.message && message) parsed = dialect.message(message, parsed, path, echo);
  else if (dialect?.other && !message) parsed ??= dialect.other(ev, path);
  if (!parsed) return undefined;
  const { confirms, confirmsKey, ...fields } = parsed.fields;
  const base = { channel, account: echo ? senderId : recipientId, user: echo ? recipientId : senderId, timestamp, receivedAt, ...(standby ? { standby } : {}) };
  // An empty mid is no dedupe key: such an event is keyed by its content, like one without a mid.
  const event = compact({ id: fields.mid || hashId(ev), kind: parsed.kind, ...base, ...fields } as InboundEvent & Obj) as InboundEvent;
  return { event, queue: confirms === undefined, ...(confirms ? { confirms } : {}), ...(confirmsKey ? { confirmsKey } : {}) };
}

/** Parses every `messaging` and `standby` event of a webhook body's entries. */
export function parseMessaging(channel: string, body: Obj, receivedAt: number, dialect?: MessagingDialect): ParseResult {
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
        const parsed = normalise(channel, ev, path, field === 'standby', receivedAt, entryTime, dialect);
        if (parsed) result.events.push(parsed);
        else result.unknown.push({ path, keys: Object.keys(ev).filter((k) => !['sender', 'recipient', 'timestamp'].includes(k)), raw: ev });
      });
    }
  });
  return result;
}
