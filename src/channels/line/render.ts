/**
 * Neutral replies as LINE message objects, within the Messaging API's limits
 * (developers.line.biz/en/reference/messaging-api/#message-objects): text of at most 5,000
 * characters (split at paragraph or word ends), at most 13 quick reply buttons with 20-character
 * labels, buttons as a buttons template (at most 4 actions, 160 characters of text, alternative
 * text for notifications), images by https URL. Video and audio messages need a preview image
 * and a duration the neutral reply does not have, and bots cannot send files: those go as a link.
 *
 * The bubbles of a turn are packed into pushes of at most 5 message objects: LINE counts one
 * push as one message per recipient however many bubbles it holds, so packing saves quota, and
 * each push is one step of the reply ledger with one retry key.
 */
import { clipLabel, splitText, type Rendered, type Rendering, type Reply } from '../reply';

export const LINE_LIMITS = {
  maxText: 5_000,
  maxQuickReplies: 13,
  maxLabel: 20,
  maxButtons: 4,
  maxButtonText: 160,
  maxAltText: 1_500,
  maxData: 300,
  maxUrl: 2_000,
  maxUri: 1_000,
  maxPerPush: 5,
} as const;

export type LineAction = { type: 'postback'; label: string; data: string; displayText?: string } | { type: 'message'; label: string; text: string } | { type: 'uri'; label: string; uri: string };

export interface LineQuickReply {
  items: { type: 'action'; action: LineAction }[];
}

export type LineMessage = (
  | { type: 'text'; text: string }
  | { type: 'image'; originalContentUrl: string; previewImageUrl: string }
  | { type: 'template'; altText: string; template: { type: 'buttons'; text: string; actions: LineAction[] } }
) & { quickReply?: LineQuickReply };

/** The `messages` of one push request. */
export interface LinePush {
  messages: LineMessage[];
}

interface Bubble {
  message: LineMessage;
  text: string;
}

const LINK_SCHEMES = /^(https?|line|tel):/i;
const HTTPS = /^https:\/\/\S+$/i;

function postback(title: string, payload: string): LineAction {
  // `displayText` is what the chat shows as the user's message when they tap.
  return { type: 'postback', label: clipLabel(title, LINE_LIMITS.maxLabel), data: payload.slice(0, LINE_LIMITS.maxData), displayText: title.slice(0, LINE_LIMITS.maxData) };
}

function textBubbles(text: string): Bubble[] {
  return splitText(text, LINE_LIMITS.maxText)
    .filter((t) => t.length > 0)
    .map((t) => ({ message: { type: 'text', text: t }, text: t }));
}

function buttonBubbles(r: Reply, note: (s: string) => void): Bubble[] {
  let buttons = r.buttons!;
  const linkless = buttons.filter((b) => b.url !== undefined && !(LINK_SCHEMES.test(b.url) && b.url.length <= LINE_LIMITS.maxUri));
  if (linkless.length) {
    note(`${linkless.length} button links LINE cannot open (http, https, line or tel, at most ${LINE_LIMITS.maxUri} characters) dropped`);
    buttons = buttons.filter((b) => !linkless.includes(b));
  }
  if (buttons.length > LINE_LIMITS.maxButtons) {
    note(`${buttons.length} buttons cut to ${LINE_LIMITS.maxButtons}`);
    buttons = buttons.slice(0, LINE_LIMITS.maxButtons);
  }
  if (buttons.some((b) => b.title.length > LINE_LIMITS.maxLabel)) note(`button labels shortened to ${LINE_LIMITS.maxLabel} characters`);
  const pieces = splitText(r.text ?? '', LINE_LIMITS.maxText).filter((t) => t.length > 0);
  // The template carries the last piece of text (at most 160 characters); the rest goes before it.
  let last = pieces.pop() ?? '';
  if (last.length > LINE_LIMITS.maxButtonText) {
    const more = splitText(last, LINE_LIMITS.maxButtonText);
    last = more.pop()!;
    pieces.push(...more);
  }
  if (pieces.length) note(`text split in ${pieces.length + 1} messages to fit the buttons template's ${LINE_LIMITS.maxButtonText} characters`);
  const out = pieces.flatMap(textBubbles);
  if (!buttons.length) return [...out, ...textBubbles(last)];
  const shown =
    last ||
    buttons
      .map((b) => b.title)
      .join(' / ')
      .slice(0, LINE_LIMITS.maxButtonText);
  const actions = buttons.map((b): LineAction => (b.url ? { type: 'uri', label: clipLabel(b.title, LINE_LIMITS.maxLabel), uri: b.url } : postback(b.title, b.payload ?? b.title)));
  out.push({ message: { type: 'template', altText: clipLabel(shown, LINE_LIMITS.maxAltText), template: { type: 'buttons', text: shown, actions } }, text: shown });
  return out;
}

function attachmentBubble(a: NonNullable<Reply['attachment']>, note: (s: string) => void): Bubble {
  if (a.type === 'image' && HTTPS.test(a.url) && a.url.length <= LINE_LIMITS.maxUrl) {
    return { message: { type: 'image', originalContentUrl: a.url, previewImageUrl: a.url }, text: a.name ?? a.url };
  }
  const why = a.type === 'image' ? 'LINE shows images from https URLs only' : a.type === 'video' ? 'a LINE video needs a preview image' : a.type === 'audio' ? 'a LINE audio message needs its duration' : 'LINE bots cannot send files';
  note(`${a.type} sent as a link (${why})`);
  const text = a.name ? `${a.name}: ${a.url}` : a.url;
  return { message: { type: 'text', text: text.slice(0, LINE_LIMITS.maxText) }, text };
}

export function renderLine(replies: readonly Reply[]): Rendering<LinePush> {
  const bubbles: Bubble[] = [];
  const adjustments: string[] = [];
  replies.forEach((r, n) => {
    const note = (s: string) => adjustments.push(replies.length > 1 ? `${s} (reply ${n + 1})` : s);
    const start = bubbles.length;
    if (r.buttons?.length) bubbles.push(...buttonBubbles(r, note));
    else if (r.text !== undefined) {
      const pieces = textBubbles(r.text);
      if (pieces.length > 1) note(`text split in ${pieces.length} messages`);
      if (pieces.length === 0 && !r.attachment) note('empty text not sent');
      bubbles.push(...pieces);
    }
    if (r.attachment) bubbles.push(attachmentBubble(r.attachment, note));
    let quick = r.quickReplies;
    if (!quick?.length) return;
    if (quick.length > LINE_LIMITS.maxQuickReplies) {
      note(`${quick.length} quick replies cut to ${LINE_LIMITS.maxQuickReplies}`);
      quick = quick.slice(0, LINE_LIMITS.maxQuickReplies);
    }
    if (quick.some((q) => q.title.length > LINE_LIMITS.maxLabel)) note(`quick reply labels shortened to ${LINE_LIMITS.maxLabel} characters`);
    if (quick.some((q) => q.payload.length > LINE_LIMITS.maxData)) note(`quick reply payloads cut to ${LINE_LIMITS.maxData} characters`);
    // LINE shows quick reply buttons under the last message of the chat: they ride on this reply's last bubble.
    const last = bubbles.length > start ? bubbles[bubbles.length - 1] : undefined;
    if (!last) return void note('quick replies without a message to carry them dropped');
    last.message = { ...last.message, quickReply: { items: quick.map((q) => ({ type: 'action' as const, action: postback(q.title, q.payload) })) } };
  });
  const messages: Rendered<LinePush>[] = [];
  for (let i = 0; i < bubbles.length; i += LINE_LIMITS.maxPerPush) {
    const push = bubbles.slice(i, i + LINE_LIMITS.maxPerPush);
    const types = push.map((b) => b.message.type);
    const kind = types.includes('template') ? 'buttons' : types.every((t) => t === 'image') ? 'attachment' : push[push.length - 1]!.message.quickReply ? 'quick_replies' : 'text';
    messages.push({ kind, body: { messages: push.map((b) => b.message) }, text: push.map((b) => b.text).join('\n\n') });
  }
  return { messages, adjustments };
}
