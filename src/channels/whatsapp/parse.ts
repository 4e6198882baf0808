/**
 * `"object":"whatsapp_business_account"` bodies of POST /webhook (same app, app secret and
 * signature as Messenger; Meta's ingress checks the signature) parsed into neutral events.
 * `entry[].changes[]` with `field: "messages"` carry, per business phone number
 * (`metadata.phone_number_id`, the account), the users' `messages` and the `statuses` of ours.
 *
 * Statuses play the part of Messenger's echo: every send carries our reply token as
 * `biz_opaque_callback_data`, and each status of that message (sent, delivered, read, failed)
 * brings it back — a `confirms` of that reply for the ledger, and (the gateway's doing) an
 * outbound row keyed by the wamid, which merges with the worker's. Delivered, read and failed
 * are also receipts; none is queued: no worker has anything to do with a status, the gateway
 * records them behind the confirmation row. Statuses of messages this deployment did not send
 * (no token of ours) confirm nothing and match no row.
 *
 * Dedupe ids: a message's wamid; a status's `<wamid>:<status>` (one message has several).
 * The whole body is validated first: one bad entry rejects the POST, naming the path.
 */
import { parseReplyToken, WebhookInputError, type EventKind, type InboundEvent, type ParsedEvent, type ParseResult } from '../event';
import { compact, isObj, str } from '../meta/messaging';
import { messageFields, referralOf } from './message';

type Obj = Record<string, unknown>;

/** wamids are `wamid.` + base64; no `:`, so a status id (`<wamid>:<status>`) never equals a message id. */
const WAMID = /^[A-Za-z0-9_.=+/-]{1,256}$/;
/** Phone number ids and WhatsApp user ids (wa_id: digits; business-scoped ids may carry letters). */
const ACCOUNT_ID = /^[A-Za-z0-9_.-]{1,64}$/;

const RECEIPTS: Readonly<Record<string, EventKind>> = { delivered: 'delivery', read: 'read', failed: 'failed' };

function idOf(v: unknown, path: string, re: RegExp, what: string): string {
  const s = str(v);
  if (s === undefined) throw new WebhookInputError(`${path} is required`);
  if (!re.test(s)) throw new WebhookInputError(`${path} must be ${what}`);
  return s;
}

/** WhatsApp times are seconds since the epoch, as a string of digits. */
function secondsOf(v: unknown, path: string): number {
  const s = typeof v === 'number' ? String(v) : str(v);
  if (s === undefined || !/^\d{1,12}$/.test(s)) throw new WebhookInputError(`${path} must be the time in seconds since the epoch (a string of digits)`);
  return Number(s) * 1000;
}

function list(v: unknown, path: string): unknown[] {
  if (v === undefined) return [];
  if (!Array.isArray(v)) throw new WebhookInputError(`${path} must be an array`);
  return v;
}

interface Ctx {
  account: string;
  receivedAt: number;
  result: ParseResult;
}

function parseMessage(m: unknown, path: string, names: Map<string, string>, c: Ctx): void {
  if (!isObj(m)) throw new WebhookInputError(`${path} must be an object`);
  const user = idOf(m.from, `${path}.from`, ACCOUNT_ID, "the user's WhatsApp id (wa_id)");
  const id = idOf(m.id, `${path}.id`, WAMID, 'a WhatsApp message id (wamid…)');
  const timestamp = secondsOf(m.timestamp, `${path}.timestamp`);
  const type = str(m.type);
  if (type === undefined) throw new WebhookInputError(`${path}.type is required`);
  const parsed = messageFields(m, type, path);
  if (!parsed) {
    c.result.unknown.push({ path, keys: [type, ...(Array.isArray(m.errors) ? ['errors'] : [])], raw: m });
    return;
  }
  const context = isObj(m.context) ? m.context : undefined;
  const event = compact({
    id,
    mid: id,
    kind: parsed.kind,
    channel: 'whatsapp',
    account: c.account,
    user,
    timestamp,
    receivedAt: c.receivedAt,
    ...parsed.fields,
    replyTo: context ? str(context.id) : undefined,
    referral: referralOf(m),
    profileName: names.get(user),
  } as InboundEvent & Obj) as InboundEvent;
  c.result.events.push({ event, queue: true });
}

function errorOf(s: Obj, path: string): string | undefined {
  const errors = list(s.errors, `${path}.errors`);
  const e = errors.find(isObj);
  if (!e) return undefined;
  const code = typeof e.code === 'number' || typeof e.code === 'string' ? String(e.code) : 'unknown';
  return `${code}: ${str(e.title) ?? str(e.message) ?? 'no title'}`;
}

/** A status of one of our messages: a confirmation of the reply it names, and (but `sent`) a receipt. */
function parseStatus(s: unknown, path: string, c: Ctx): void {
  if (!isObj(s)) throw new WebhookInputError(`${path} must be an object`);
  const wamid = idOf(s.id, `${path}.id`, WAMID, 'a WhatsApp message id (wamid…)');
  const status = str(s.status);
  if (status === undefined) throw new WebhookInputError(`${path}.status is required`);
  const timestamp = secondsOf(s.timestamp, `${path}.timestamp`);
  if (status !== 'sent' && !(status in RECEIPTS)) {
    c.result.unknown.push({ path, keys: [`status:${status}`], raw: s }); // deleted, warning, played…
    return;
  }
  const user = idOf(s.recipient_id, `${path}.recipient_id`, ACCOUNT_ID, "the recipient's WhatsApp id");
  const error = status === 'failed' ? (errorOf(s, path) ?? 'failed: no error given') : undefined;
  const confirms = parseReplyToken(str(s.biz_opaque_callback_data));
  const kind: EventKind = status === 'sent' ? 'echo' : RECEIPTS[status]!;
  const event: InboundEvent = {
    id: `${wamid}:${status}`,
    mid: wamid,
    kind,
    channel: 'whatsapp',
    account: c.account,
    user,
    timestamp,
    receivedAt: c.receivedAt,
    ...(status === 'sent' ? {} : { mids: [wamid] }),
    ...(error ? { error } : {}),
  };
  const parsed: ParsedEvent = { event, queue: false, ...(confirms ? { confirms } : {}) };
  c.result.events.push(parsed);
}

function parseValue(value: unknown, path: string, receivedAt: number, result: ParseResult): void {
  if (!isObj(value)) throw new WebhookInputError(`${path} must be an object`);
  if (value.messaging_product !== 'whatsapp') throw new WebhookInputError(`${path}.messaging_product must be "whatsapp"`);
  const metadata = isObj(value.metadata) ? value.metadata : undefined;
  if (!metadata) throw new WebhookInputError(`${path}.metadata is required`);
  const account = idOf(metadata.phone_number_id, `${path}.metadata.phone_number_id`, ACCOUNT_ID, 'the business phone number id');
  const names = new Map<string, string>();
  list(value.contacts, `${path}.contacts`).forEach((ct, i) => {
    if (!isObj(ct)) throw new WebhookInputError(`${path}.contacts[${i}] must be an object`);
    const name = isObj(ct.profile) ? str(ct.profile.name) : undefined;
    if (typeof ct.wa_id === 'string' && name !== undefined) names.set(ct.wa_id, name);
  });
  const c: Ctx = { account, receivedAt, result };
  list(value.messages, `${path}.messages`).forEach((m, i) => parseMessage(m, `${path}.messages[${i}]`, names, c));
  list(value.statuses, `${path}.statuses`).forEach((s, i) => parseStatus(s, `${path}.statuses[${i}]`, c));
  // Errors about the account rather than a message (a throughput limit hit, say): logged with the unknown events.
  const errors = list(value.errors, `${path}.errors`);
  if (errors.length) result.unknown.push({ path: `${path}.errors`, keys: ['errors'], raw: errors });
}

/** Parses every `messages` change of a webhook body; other fields (account, template, quality updates) are counted as unknown. */
export function parseWhatsAppWebhook(body: Obj, receivedAt: number): ParseResult {
  if (!Array.isArray(body.entry)) throw new WebhookInputError('entry must be an array');
  const result: ParseResult = { events: [], unknown: [] };
  body.entry.forEach((entry: unknown, i: number) => {
    if (!isObj(entry)) throw new WebhookInputError(`entry[${i}] must be an object`);
    if (!Array.isArray(entry.changes)) throw new WebhookInputError(`entry[${i}].changes must be an array`);
    entry.changes.forEach((change: unknown, j: number) => {
      const path = `entry[${i}].changes[${j}]`;
      if (!isObj(change)) throw new WebhookInputError(`${path} must be an object`);
      const field = str(change.field);
      if (field === undefined) throw new WebhookInputError(`${path}.field is required`);
      if (field !== 'messages') result.unknown.push({ path, keys: [field], raw: change });
      else parseValue(change.value, `${path}.value`, receivedAt, result);
    });
  });
  return result;
}
