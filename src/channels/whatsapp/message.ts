/**
 * One entry of a WhatsApp `messages` webhook (`value.messages[]`) as the fields of a neutral
 * event, per message type (Cloud API "messages" webhook reference): text, interactive replies,
 * template quick-reply buttons, media (an id to download, never a URL), location, contacts,
 * reactions. Types the core has no kind for (unsupported, system, order, flows) return
 * undefined: the caller counts them as unknown.
 */
import { WebhookInputError, type Attachment, type EventKind, type InboundEvent } from '../event';
import { compact, isObj, num, str } from '../meta/messaging';

type Obj = Record<string, unknown>;
export type MessageFields = { kind: EventKind; fields: Partial<InboundEvent> };

/** Media types and the neutral kind each maps to (a WhatsApp `document` is a file). */
const MEDIA: Readonly<Record<string, EventKind>> = { image: 'image', video: 'video', audio: 'audio', document: 'file', sticker: 'sticker' };

const need = (o: unknown, path: string): Obj => {
  if (!isObj(o)) throw new WebhookInputError(`${path} must be an object`);
  return o;
};

const text = (v: unknown, path: string): string => {
  const s = str(v);
  if (s === undefined) throw new WebhookInputError(`${path} must be a string`);
  return s;
};

function media(m: Obj, type: string, path: string): MessageFields {
  const o = need(m[type], `${path}.${type}`);
  const mediaId = str(o.id);
  if (!mediaId) throw new WebhookInputError(`${path}.${type}.id is required (the media id to download it with)`);
  const caption = str(o.caption);
  const kind = MEDIA[type]!;
  const attachment: Attachment = compact({ type: kind, mediaId, title: caption ?? str(o.filename) });
  return { kind, fields: { attachments: [attachment], ...(caption !== undefined ? { text: caption } : {}) } };
}

/** An interactive reply (a reply button or a list row we sent): the tapped option's id is the payload, its title what the user "said". */
function interactive(m: Obj, path: string): MessageFields | undefined {
  const i = need(m.interactive, `${path}.interactive`);
  const type = str(i.type);
  if (type !== 'button_reply' && type !== 'list_reply') return undefined; // flows (nfm_reply) and others: unknown
  const reply = need(i[type], `${path}.interactive.${type}`);
  const id = text(reply.id, `${path}.interactive.${type}.id`);
  const title = text(reply.title, `${path}.interactive.${type}.title`);
  return { kind: 'quick_reply', fields: { text: title, payload: id, title } };
}

function location(m: Obj, path: string): MessageFields {
  const l = need(m.location, `${path}.location`);
  const lat = num(l.latitude);
  const long = num(l.longitude);
  if (lat === undefined || long === undefined) throw new WebhookInputError(`${path}.location.latitude and .longitude must be numbers`);
  const title = str(l.name) ?? str(l.address);
  return { kind: 'location', fields: { attachments: [compact({ type: 'location', coordinates: { lat, long }, title })] } };
}

function contacts(m: Obj, path: string): MessageFields {
  if (!Array.isArray(m.contacts) || m.contacts.length === 0) throw new WebhookInputError(`${path}.contacts must be a non-empty array`);
  const attachments = m.contacts.map((c: unknown, i): Attachment => {
    const o = need(c, `${path}.contacts[${i}]`);
    return compact({ type: 'contact', title: isObj(o.name) ? str(o.name.formatted_name) : undefined });
  });
  return { kind: 'contact', fields: { attachments } };
}

function reaction(m: Obj, path: string): MessageFields {
  const r = need(m.reaction, `${path}.reaction`);
  const mid = text(r.message_id, `${path}.reaction.message_id`);
  // An empty (or absent) emoji is the user taking their reaction back.
  const emoji = str(r.emoji) ?? '';
  return { kind: 'reaction', fields: { reaction: { ...(emoji ? { emoji } : {}), action: emoji ? 'react' : 'unreact', mid } } };
}

/** The kind and fields of one message, or undefined for a type the core has no kind for. */
export function messageFields(m: Obj, type: string, path: string): MessageFields | undefined {
  if (type in MEDIA) return media(m, type, path);
  switch (type) {
    case 'text':
      return { kind: 'text', fields: { text: text(need(m.text, `${path}.text`).body, `${path}.text.body`) } };
    case 'interactive':
      return interactive(m, path);
    case 'button': {
      // A quick-reply button of a template message: its payload, and its text as the title.
      const b = need(m.button, `${path}.button`);
      const title = text(b.text, `${path}.button.text`);
      return { kind: 'postback', fields: { payload: str(b.payload) ?? title, title } };
    }
    case 'location':
      return location(m, path);
    case 'contacts':
      return contacts(m, path);
    case 'reaction':
      return reaction(m, path);
    default:
      return undefined; // unsupported, unknown, system, order, request_welcome…
  }
}

/** Where the user came from, for messages started from a click-to-WhatsApp ad or post. */
export function referralOf(m: Obj): InboundEvent['referral'] | undefined {
  if (!isObj(m.referral)) return undefined;
  const r = m.referral;
  return compact({ source: str(r.source_type), ref: str(r.source_id), type: str(r.media_type) });
}
