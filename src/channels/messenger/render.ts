/**
 * Neutral replies as Send API `message` objects, within Messenger's limits: text of at most
 * 2,000 characters (longer text is split at paragraph or word ends), at most 13 quick replies
 * with titles of 20 characters, a button template of at most 3 buttons with 640 characters of
 * text. What had to change is reported, never silently dropped.
 */
import { clipLabel, splitText, type Rendered, type Rendering, type Reply } from '../reply';

export interface MessengerLimits {
  maxText: number;
  maxQuickReplies: number;
  maxQuickReplyTitle: number;
  maxButtons: number;
  maxButtonText: number;
  maxButtonTitle: number;
}

export const MESSENGER_LIMITS: MessengerLimits = { maxText: 2_000, maxQuickReplies: 13, maxQuickReplyTitle: 20, maxButtons: 3, maxButtonText: 640, maxButtonTitle: 20 };

/** The `message` object of a Send API request. */
export interface SendMessage {
  text?: string;
  attachment?: { type: string; payload: Record<string, unknown> };
  quick_replies?: { content_type: 'text'; title: string; payload: string }[];
}

export function renderMessenger(replies: readonly Reply[], limits: MessengerLimits = MESSENGER_LIMITS): Rendering<SendMessage> {
  const messages: Rendered<SendMessage>[] = [];
  const adjustments: string[] = [];
  replies.forEach((r, n) => {
    const start = messages.length;
    const at = replies.length > 1 ? ` (reply ${n + 1})` : '';
    let quick = r.quickReplies?.map((q) => ({ content_type: 'text' as const, title: clipLabel(q.title, limits.maxQuickReplyTitle), payload: q.payload.slice(0, 1_000) }));
    if (quick && quick.length > limits.maxQuickReplies) {
      adjustments.push(`${quick.length} quick replies cut to ${limits.maxQuickReplies}${at}`);
      quick = quick.slice(0, limits.maxQuickReplies);
    }
    if (quick?.some((q, i) => q.title !== r.quickReplies![i]!.title)) adjustments.push(`quick reply titles shortened to ${limits.maxQuickReplyTitle} characters${at}`);
    const tail: Rendered<SendMessage>[] = [];
    if (r.attachment) {
      const a = r.attachment;
      tail.push({ kind: 'attachment', body: { attachment: { type: a.type, payload: { url: a.url, is_reusable: true } } }, text: a.name ?? a.url });
    }
    if (r.buttons?.length) {
      let buttons = r.buttons;
      if (buttons.length > limits.maxButtons) {
        adjustments.push(`${buttons.length} buttons cut to ${limits.maxButtons}${at}`);
        buttons = buttons.slice(0, limits.maxButtons);
      }
      const pieces = splitText(r.text ?? '', limits.maxText);
      // The template carries the last piece of text (at most 640 characters); the rest goes before it.
      let last = pieces.pop() ?? '';
      if (last.length > limits.maxButtonText) {
        const more = splitText(last, limits.maxButtonText);
        last = more.pop()!;
        pieces.push(...more);
      }
      if (pieces.length) adjustments.push(`text split in ${pieces.length + 1} messages${at}`);
      messages.push(...pieces.map((t): Rendered<SendMessage> => ({ kind: 'text', body: { text: t }, text: t })));
      const template = {
        template_type: 'button',
        text: last || ' ',
        buttons: buttons.map((b) =>
          b.url ? { type: 'web_url', url: b.url, title: clipLabel(b.title, limits.maxButtonTitle) } : { type: 'postback', title: clipLabel(b.title, limits.maxButtonTitle), payload: (b.payload ?? b.title).slice(0, 1_000) },
        ),
      };
      tail.unshift({ kind: 'buttons', body: { attachment: { type: 'template', payload: template } }, text: last });
    } else if (r.text !== undefined) {
      const pieces = splitText(r.text, limits.maxText);
      if (pieces.length > 1) adjustments.push(`text split in ${pieces.length} messages${at}`);
      messages.push(...pieces.map((t): Rendered<SendMessage> => ({ kind: 'text', body: { text: t }, text: t })));
    }
    messages.push(...tail);
    // Quick replies ride on the last message of the reply (Messenger shows them under it).
    const last = messages.length > start ? messages[messages.length - 1] : undefined;
    if (quick?.length && !last) adjustments.push(`quick replies without a message to carry them dropped${at}`);
    if (quick?.length && last) {
      last.body = { ...last.body, quick_replies: quick };
      if (last.kind === 'text') last.kind = 'quick_replies';
    }
  });
  return { messages, adjustments };
}
