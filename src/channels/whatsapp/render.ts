/**
 * Neutral replies as Cloud API message objects, within WhatsApp's limits (Meta's "Messages",
 * "Interactive reply buttons messages" and "Interactive list messages" references):
 * - text: at most 4,096 characters a message; longer text is split at paragraph or word ends;
 * - up to 3 choices (quick replies and postback buttons alike): an `interactive` `button`
 *   message — titles of 20 characters, unique; ids of 256; a body of 1,024;
 * - 4 or more: an `interactive` `list` — at most 10 rows, row titles of 24 (the full title then
 *   goes to the row's description, 72), ids of 200, a button label of 20, a body of 4,096;
 * - one link button alone: the `cta_url` interactive (a real button opening the URL); links
 *   beside choices, or several: written into the text ("Title: https://…"), as WhatsApp
 *   cannot mix URL and reply buttons in one message;
 * - attachments: image, video, audio or document messages by `link`.
 * Every change is reported in `adjustments`, never silent.
 */
import { clipLabel, splitText, type Rendered, type Rendering, type Reply } from '../reply';

export const WHATSAPP_LIMITS = {
  maxText: 4_096,
  maxButtons: 3,
  maxButtonTitle: 20,
  maxButtonId: 256,
  maxButtonBody: 1_024,
  maxRows: 10,
  maxRowTitle: 24,
  maxRowDescription: 72,
  maxRowId: 200,
  maxListButton: 20,
  maxListBody: 4_096,
} as const;

const L = WHATSAPP_LIMITS;
/** The list's button label (it opens the rows). */
export const LIST_BUTTON = 'Choose';
/** A body for choices sent without text: WhatsApp requires one. */
export const CHOICES_BODY = 'Choose an option:';

export interface WaMedia {
  link: string;
  filename?: string;
}

export type WaInteractive =
  | { type: 'button'; body: { text: string }; action: { buttons: { type: 'reply'; reply: { id: string; title: string } }[] } }
  | { type: 'list'; body: { text: string }; action: { button: string; sections: { rows: { id: string; title: string; description?: string }[] }[] } }
  | { type: 'cta_url'; body: { text: string }; action: { name: 'cta_url'; parameters: { display_text: string; url: string } } };

/** The message part of a `POST /{phone-number-id}/messages` body (recipient and callback data are added by the channel). */
export interface WaMessage {
  type: 'text' | 'interactive' | 'image' | 'video' | 'audio' | 'document';
  text?: { body: string; preview_url: boolean };
  interactive?: WaInteractive;
  image?: WaMedia;
  video?: WaMedia;
  audio?: WaMedia;
  document?: WaMedia;
}

interface Option {
  title: string;
  id: string;
}

const textMessage = (body: string): Rendered<WaMessage> => ({ kind: 'text', body: { type: 'text', text: { body, preview_url: /https?:\/\//.test(body) } }, text: body });

/** Distinct ids (a repeated payload is one choice), ids cut to `maxId`. */
function choices(r: Reply, maxId: number, note: (s: string) => void): Option[] {
  const all = [...(r.buttons ?? []).filter((b) => !b.url).map((b) => ({ title: b.title, id: b.payload || b.title })), ...(r.quickReplies ?? []).map((q) => ({ title: q.title, id: q.payload || q.title }))];
  if (all.some((o) => o.id.length > maxId)) note(`payloads cut to ${maxId} characters`);
  const seen = new Set<string>();
  const out = all.map((o) => ({ ...o, id: o.id.slice(0, maxId) })).filter((o) => !seen.has(o.id) && seen.add(o.id));
  if (out.length < all.length) note(`${all.length - out.length} choices with a payload already offered dropped`);
  return out;
}

/** Titles cut to `max` and unique within the message (WhatsApp refuses two equal ones). */
function titles(options: Option[], max: number, note: (s: string) => void): string[] {
  const seen = new Set<string>();
  const out = options.map((o) => {
    let t = clipLabel(o.title.trim() || o.id, max);
    for (let n = 2; seen.has(t); n++) t = `${clipLabel(o.title, max - String(n).length - 1)} ${n}`;
    seen.add(t);
    return t;
  });
  if (out.some((t, i) => t !== options[i]!.title)) note(`titles shortened to ${max} characters or made unique`);
  return out;
}

function interactive(options: Option[], body: string, note: (s: string) => void): WaInteractive {
  if (options.length <= L.maxButtons) {
    const t = titles(options, L.maxButtonTitle, note);
    return { type: 'button', body: { text: body }, action: { buttons: options.map((o, i) => ({ type: 'reply', reply: { id: o.id, title: t[i]! } })) } };
  }
  if (options.length > L.maxRows) note(`${options.length} choices cut to ${L.maxRows} list rows`);
  const rows = options.slice(0, L.maxRows);
  const t = titles(rows, L.maxRowTitle, note);
  return {
    type: 'list',
    body: { text: body },
    action: {
      button: LIST_BUTTON,
      // A title cut to fit keeps its whole text in the row's description.
      sections: [{ rows: rows.map((o, i) => ({ id: o.id, title: t[i]!, ...(t[i] !== o.title ? { description: clipLabel(o.title, L.maxRowDescription) } : {}) })) }],
    },
  };
}

function media(a: NonNullable<Reply['attachment']>): Rendered<WaMessage> {
  const type = a.type === 'file' ? 'document' : a.type;
  const m: WaMedia = { link: a.url, ...(type === 'document' && a.name ? { filename: a.name } : {}) };
  return { kind: 'attachment', body: { type, [type]: m }, text: a.name ?? a.url };
}

/** The messages of one reply: text pieces, then the interactive carrying the last piece, then the attachment. */
function renderOne(r: Reply, note: (s: string) => void): Rendered<WaMessage>[] {
  const links = (r.buttons ?? []).filter((b) => b.url);
  const options = choices(r, L.maxButtonId, note);
  const cta = links.length === 1 && options.length === 0 ? links[0]! : undefined;
  let text = r.text ?? '';
  if (links.length && !cta) {
    text = [text, links.map((b) => `${b.title}: ${b.url}`).join('\n')].filter(Boolean).join('\n\n');
    note(`${links.length} link buttons written into the text`);
  }
  const out: Rendered<WaMessage>[] = [];
  if (options.length || cta) {
    const ids = options.length > L.maxButtons ? options.map((o) => ({ ...o, id: o.id.slice(0, L.maxRowId) })) : options;
    if (ids.some((o, i) => o.id !== options[i]!.id)) note(`list row ids cut to ${L.maxRowId} characters`);
    const bodyMax = options.length > L.maxButtons ? L.maxListBody : L.maxButtonBody;
    const pieces = splitText(text, L.maxText);
    let last = pieces.pop() ?? '';
    if (last.length > bodyMax) {
      const more = splitText(last, bodyMax);
      last = more.pop()!;
      pieces.push(...more);
    }
    if (pieces.length) note(`text split in ${pieces.length + 1} messages`);
    if (!last.trim()) note(cta ? 'a link without text: its title used as the text' : `choices without text: "${CHOICES_BODY}" used as the text`);
    const body = last.trim() ? last : cta ? cta.title : CHOICES_BODY;
    out.push(...pieces.map(textMessage));
    const i: WaInteractive = cta ? { type: 'cta_url', body: { text: body }, action: { name: 'cta_url', parameters: { display_text: clipLabel(cta.title, L.maxButtonTitle), url: cta.url! } } } : interactive(ids, body, note);
    if (cta && cta.title.length > L.maxButtonTitle) note(`link title shortened to ${L.maxButtonTitle} characters`);
    out.push({ kind: cta || r.buttons?.some((b) => !b.url) ? 'buttons' : 'quick_replies', body: { type: 'interactive', interactive: i }, text: body });
  } else if (r.text !== undefined && !text.trim()) {
    note('an empty text not sent (WhatsApp refuses one)');
  } else if (r.text !== undefined || links.length) {
    const pieces = splitText(text, L.maxText);
    if (pieces.length > 1) note(`text split in ${pieces.length} messages`);
    out.push(...pieces.map(textMessage));
  }
  if (r.attachment) out.push(media(r.attachment));
  return out;
}

export function renderWhatsApp(replies: readonly Reply[]): Rendering<WaMessage> {
  const messages: Rendered<WaMessage>[] = [];
  const adjustments: string[] = [];
  replies.forEach((r, n) => {
    const at = replies.length > 1 ? ` (reply ${n + 1})` : '';
    messages.push(...renderOne(r, (s) => adjustments.push(`${s}${at}`)));
  });
  return { messages, adjustments };
}
