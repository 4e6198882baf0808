/**
 * Neutral replies as web chat messages: what the widget draws. The widget is ours, so the
 * limits are ours too, set for a phone screen: text of at most 4,000 characters a bubble
 * (longer text is split), 10 quick replies and 5 buttons with labels of 40, links and media
 * only over http(s). The last bubble of a reply carries its buttons, quick replies and
 * attachment. What had to change is reported, never silently dropped.
 */
import { clipLabel, splitText, type Rendered, type Rendering, type Reply } from '../reply';

export interface WebchatLimits {
  maxText: number;
  maxQuickReplies: number;
  maxButtons: number;
  maxLabel: number;
  maxPayload: number;
}

export const WEBCHAT_LIMITS: WebchatLimits = { maxText: 4_000, maxQuickReplies: 10, maxButtons: 5, maxLabel: 40, maxPayload: 1_000 };

/** One message as the widget receives it (the `body` of a transcript entry). */
export interface WebchatBody {
  text?: string;
  quickReplies?: { title: string; payload: string }[];
  buttons?: { title: string; payload?: string; url?: string }[];
  attachment?: { type: 'image' | 'video' | 'audio' | 'file'; url: string; name?: string };
}

const WEB_URL = /^https?:\/\/[^\s]+$/i;

export function renderWebchat(replies: readonly Reply[], limits: WebchatLimits = WEBCHAT_LIMITS): Rendering<WebchatBody> {
  const messages: Rendered<WebchatBody>[] = [];
  const adjustments: string[] = [];
  replies.forEach((r, n) => {
    const at = replies.length > 1 ? ` (reply ${n + 1})` : '';
    const pieces = r.text !== undefined ? splitText(r.text, limits.maxText) : [];
    if (pieces.length > 1) adjustments.push(`text split in ${pieces.length} messages${at}`);
    const last: WebchatBody = pieces.length ? { text: pieces.pop()! } : {};
    messages.push(...pieces.map((t): Rendered<WebchatBody> => ({ kind: 'text', body: { text: t }, text: t })));

    let quick = r.quickReplies ?? [];
    if (quick.length > limits.maxQuickReplies) {
      adjustments.push(`${quick.length} quick replies cut to ${limits.maxQuickReplies}${at}`);
      quick = quick.slice(0, limits.maxQuickReplies);
    }
    if (quick.length) last.quickReplies = quick.map((q) => ({ title: clipLabel(q.title, limits.maxLabel), payload: q.payload.slice(0, limits.maxPayload) }));

    let buttons = r.buttons ?? [];
    if (buttons.length > limits.maxButtons) {
      adjustments.push(`${buttons.length} buttons cut to ${limits.maxButtons}${at}`);
      buttons = buttons.slice(0, limits.maxButtons);
    }
    const badLinks = buttons.filter((b) => b.url !== undefined && !WEB_URL.test(b.url));
    if (badLinks.length) adjustments.push(`${badLinks.length} link buttons without an http(s) URL dropped${at}`);
    buttons = buttons.filter((b) => !badLinks.includes(b));
    if (buttons.length) {
      last.buttons = buttons.map((b) => (b.url !== undefined ? { title: clipLabel(b.title, limits.maxLabel), url: b.url } : { title: clipLabel(b.title, limits.maxLabel), payload: (b.payload ?? b.title).slice(0, limits.maxPayload) }));
    }
    if ([...(r.quickReplies ?? []), ...buttons].some((x) => x.title.length > limits.maxLabel)) adjustments.push(`labels shortened to ${limits.maxLabel} characters${at}`);

    if (r.attachment && WEB_URL.test(r.attachment.url)) last.attachment = { type: r.attachment.type, url: r.attachment.url, ...(r.attachment.name ? { name: r.attachment.name } : {}) };
    else if (r.attachment) adjustments.push(`attachment without an http(s) URL dropped${at}`);

    if (Object.keys(last).length === 0) return;
    const kind = last.buttons ? 'buttons' : last.attachment && last.text === undefined ? 'attachment' : last.quickReplies ? 'quick_replies' : 'text';
    const text = last.text ?? last.attachment?.name ?? last.attachment?.url;
    messages.push({ kind, body: last, ...(text !== undefined ? { text } : {}) });
  });
  return { messages, adjustments };
}
