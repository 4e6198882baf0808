/**
 * LINE webhook bodies (`{"destination","events":[…]}`) as neutral events, following the
 * Messaging API reference's webhook event objects (developers.line.biz/en/reference/
 * messaging-api/#webhook-event-objects). Dedupe by `webhookEventId`, order by `timestamp` (ms),
 * user = `source.userId`; `mode: "standby"` (another module channel owns the chat) is recorded,
 * never answered. One-on-one chats only: events from groups and multi-person chats, and events
 * about the channel itself, are counted and skipped. The whole body is checked before anything
 * is queued: one malformed event rejects the POST with the path of the problem.
 */
import { isIdPart } from '../conversation';
import { WebhookInputError, type EventKind, type InboundEvent, type ParsedEvent, type ParseResult } from '../event';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
const EVENT_ID = /^[A-Za-z0-9_-]{1,128}$/;

function compact<T extends Obj>(o: T): T {
  for (const k of Object.keys(o)) if (o[k] === undefined) delete o[k];
  return o;
}

/** Why an event was not queued. */
export type SkipReason = 'group' | 'room' | 'no_user' | 'channel_event';

export interface LineParse extends ParseResult {
  skipped: { type: string; reason: SkipReason; id: string }[];
  /** Events LINE marked `deliveryContext.isRedelivery` (the dedupe drops those already queued). */
  redelivered: number;
}

/** Events about the channel or a module's control of it, not about a user's chat. */
const CHANNEL_EVENTS = new Set(['activated', 'deactivated', 'botSuspended', 'botResumed', 'module', 'delivery']);
const MEDIA = new Set(['image', 'video', 'audio']);

type Fields = Partial<InboundEvent>;

function messageFields(m: Obj, at: string): { kind: EventKind; fields: Fields } | undefined {
  const mid = str(m.id);
  if (mid === undefined || !EVENT_ID.test(mid)) throw new WebhookInputError(`${at}.message.id is required: the message id`);
  const type = str(m.type);
  const base: Fields = { mid, ...(str(m.quotedMessageId) ? { replyTo: str(m.quotedMessageId) } : {}) };
  if (type === 'text') {
    if (typeof m.text !== 'string') throw new WebhookInputError(`${at}.message.text must be a string`);
    return { kind: 'text', fields: { ...base, text: m.text } };
  }
  if (type && MEDIA.has(type)) {
    const cp = isObj(m.contentProvider) ? m.contentProvider : {};
    // LINE-hosted content is fetched by message id (api-data.line.me); external content has a URL.
    const url = cp.type === 'external' ? str(cp.originalContentUrl) : undefined;
    return { kind: type as EventKind, fields: { ...base, attachments: [compact({ type, mediaId: mid, url })] } };
  }
  if (type === 'file') return { kind: 'file', fields: { ...base, attachments: [compact({ type, mediaId: mid, title: str(m.fileName) })] } };
  if (type === 'location') {
    const lat = num(m.latitude);
    const long = num(m.longitude);
    if (lat === undefined || long === undefined) throw new WebhookInputError(`${at}.message.latitude and longitude must be numbers`);
    const title = [str(m.title), str(m.address)].filter(Boolean).join(', ') || undefined;
    return { kind: 'location', fields: { ...base, attachments: [compact({ type, title, coordinates: { lat, long } })] } };
  }
  if (type === 'sticker') {
    const stickerId = str(m.stickerId);
    if (stickerId === undefined) throw new WebhookInputError(`${at}.message.stickerId is required`);
    // Message stickers carry text the user typed on them.
    return { kind: 'sticker', fields: { ...base, ...(str(m.text) ? { text: str(m.text) } : {}), attachments: [compact({ type, stickerId, mediaId: mid, title: str(m.packageId) && `package ${str(m.packageId)}` })] } };
  }
  return undefined;
}

/** Kinds the core knows; LINE's own events map onto the record-only ones (`optin`, `reaction`). */
function userFields(ev: Obj, type: string, at: string): { kind: EventKind; fields: Fields } | undefined {
  switch (type) {
    case 'message':
      if (!isObj(ev.message)) throw new WebhookInputError(`${at}.message must be an object`);
      return messageFields(ev.message, at);
    case 'postback': {
      const pb = isObj(ev.postback) ? ev.postback : undefined;
      if (!pb || typeof pb.data !== 'string') throw new WebhookInputError(`${at}.postback.data must be a string`);
      const p = isObj(pb.params) ? pb.params : {};
      // A date/time picker's answer is what the user "said".
      const picked = str(p.datetime) ?? str(p.date) ?? str(p.time);
      return { kind: 'postback', fields: { payload: pb.data, ...(picked !== undefined ? { text: picked } : {}) } };
    }
    case 'follow': {
      const unblocked = isObj(ev.follow) && ev.follow.isUnblocked === true;
      return { kind: 'optin', fields: { optin: { type: 'follow', ref: unblocked ? 'unblocked' : 'added' } } };
    }
    case 'unfollow':
      return { kind: 'optin', fields: { optin: { type: 'unfollow' } } };
    case 'accountLink': {
      const l = isObj(ev.link) ? ev.link : {};
      return { kind: 'optin', fields: { optin: compact({ type: 'accountLink', ref: str(l.nonce), payload: str(l.result) }) } };
    }
    case 'membership': {
      const m = isObj(ev.membership) ? ev.membership : {};
      return { kind: 'optin', fields: { optin: compact({ type: 'membership', ref: num(m.membershipId)?.toString(), payload: str(m.type) }) } };
    }
    case 'beacon': {
      const b = isObj(ev.beacon) ? ev.beacon : {};
      return { kind: 'optin', fields: { optin: compact({ type: 'beacon', ref: str(b.hwid), payload: str(b.type) }) } };
    }
    case 'videoPlayComplete': {
      const v = isObj(ev.videoPlayComplete) ? ev.videoPlayComplete : {};
      return { kind: 'optin', fields: { optin: compact({ type: 'videoPlayComplete', ref: str(v.trackingId) }) } };
    }
    case 'unsend': {
      const u = isObj(ev.unsend) ? ev.unsend : {};
      return { kind: 'reaction', fields: { reaction: compact({ action: 'unsend', mid: str(u.messageId) }) } };
    }
    default:
      return undefined;
  }
}

/** Every event of one verified body for channel `account` (the body's `destination`). */
export function parseLineWebhook(body: Obj, account: string, receivedAt: number): LineParse {
  if (!Array.isArray(body.events)) throw new WebhookInputError('events must be an array of webhook events (LINE sends [] to verify the URL)');
  const out: LineParse = { events: [], unknown: [], skipped: [], redelivered: 0 };
  body.events.forEach((ev: unknown, i) => {
    const at = `events[${i}]`;
    if (!isObj(ev)) throw new WebhookInputError(`${at} must be an object`);
    const type = str(ev.type);
    if (!type) throw new WebhookInputError(`${at}.type is required`);
    const id = str(ev.webhookEventId);
    if (id === undefined || !EVENT_ID.test(id)) throw new WebhookInputError(`${at}.webhookEventId is required: an id of letters, digits, _ or -`);
    const timestamp = num(ev.timestamp);
    if (timestamp === undefined || timestamp <= 0) throw new WebhookInputError(`${at}.timestamp must be a time in milliseconds`);
    if (ev.mode !== undefined && ev.mode !== 'active' && ev.mode !== 'standby') throw new WebhookInputError(`${at}.mode must be "active" or "standby"`);
    const dc = ev.deliveryContext;
    if (dc !== undefined && (!isObj(dc) || typeof dc.isRedelivery !== 'boolean')) throw new WebhookInputError(`${at}.deliveryContext.isRedelivery must be a boolean`);
    if (isObj(dc) && dc.isRedelivery === true) out.redelivered++;

    const source = isObj(ev.source) ? ev.source : undefined;
    if (CHANNEL_EVENTS.has(type)) return void out.skipped.push({ type, reason: 'channel_event', id });
    if (source?.type === 'group' || source?.type === 'room') return void out.skipped.push({ type, reason: source.type, id });
    const user = str(source?.userId);
    if (source?.type !== 'user' || user === undefined) return void out.skipped.push({ type, reason: 'no_user', id });
    if (!isIdPart(user)) throw new WebhookInputError(`${at}.source.userId must be a user id of letters and digits`);

    const mapped = userFields(ev, type, at);
    if (!mapped) return void out.unknown.push({ path: at, keys: Object.keys(ev), raw: ev });
    const event: InboundEvent = compact({
      id,
      channel: 'line',
      account,
      user,
      timestamp,
      kind: mapped.kind,
      receivedAt,
      ...(ev.mode === 'standby' ? { standby: true } : {}),
      ...mapped.fields,
    });
    out.events.push({ event, queue: true } satisfies ParsedEvent);
  });
  return out;
}
