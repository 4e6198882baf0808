/**
 * Neutral replies as Instagram Send API `message` objects, within Instagram's limits (Meta's
 * Instagram messaging docs, linked from docs/channel-instagram.md): text of at most 1,000
 * UTF-8 bytes, at most 13 quick replies (text only, titles of 20 characters), a button
 * template of 1-3 buttons with 640 characters of text, and attachments of type image, video,
 * audio or file — a file must be a PDF, anything else goes as a link. Messenger's renderer
 * does the shaping (its limits are the same or wider); this adds the byte limit and the files.
 */
import { MESSENGER_LIMITS, renderMessenger, type MessengerLimits, type SendMessage } from '../messenger/render';
import { splitText, type Rendered, type Rendering, type Reply } from '../reply';

export const MAX_TEXT_BYTES = 1_000;

export const INSTAGRAM_LIMITS: MessengerLimits = { ...MESSENGER_LIMITS, maxText: MAX_TEXT_BYTES };

const bytes = (s: string): number => Buffer.byteLength(s, 'utf8');

/** Splits text into pieces of at most `max` UTF-8 bytes, at paragraph, line or word ends where there are some. */
export function splitUtf8(text: string, max: number): string[] {
  const out: string[] = [];
  let rest = text;
  while (bytes(rest) > max) {
    // A UTF-16 unit is at most 3 bytes: narrowing the window in proportion always ends.
    let units = max;
    let head = splitText(rest, units)[0]!;
    while (bytes(head) > max) {
      units = Math.min(units - 1, Math.floor((units * max) / bytes(head)));
      head = splitText(rest, units)[0]!;
    }
    out.push(head);
    rest = rest.slice(head.length).trimStart();
  }
  out.push(rest);
  return out;
}

const isPdf = (url: string): boolean => {
  try {
    return new URL(url).pathname.toLowerCase().endsWith('.pdf');
  } catch {
    return false;
  }
};

export function renderInstagram(replies: readonly Reply[]): Rendering<SendMessage> {
  const adjustments: string[] = [];
  // Instagram takes PDF documents only: any other file is offered as a link in the text.
  const fitted = replies.map((r, n): Reply => {
    const a = r.attachment;
    if (a?.type !== 'file' || isPdf(a.url)) return r;
    adjustments.push(`file ${a.name ?? a.url} sent as a link (Instagram takes PDF files only)${replies.length > 1 ? ` (reply ${n + 1})` : ''}`);
    const { attachment: _file, ...rest } = r;
    return { ...rest, text: [r.text, `${a.name ?? 'File'}: ${a.url}`].filter((t) => t).join('\n\n') };
  });
  const r = renderMessenger(fitted, INSTAGRAM_LIMITS);
  // Text is limited in bytes, not characters: a piece over 1,000 bytes is split again, its
  // quick replies riding on the last part.
  const messages: Rendered<SendMessage>[] = [];
  for (const m of r.messages) {
    const text = m.body.text;
    if (text === undefined || bytes(text) <= MAX_TEXT_BYTES) {
      messages.push(m);
      continue;
    }
    const pieces = splitUtf8(text, MAX_TEXT_BYTES);
    adjustments.push(`text of ${bytes(text)} bytes split in ${pieces.length} messages of at most ${MAX_TEXT_BYTES} bytes`);
    const { quick_replies, ...plain } = m.body;
    pieces.forEach((t, i) => {
      const last = i === pieces.length - 1;
      messages.push({ kind: last ? m.kind : 'text', body: { ...plain, text: t, ...(last && quick_replies ? { quick_replies } : {}) }, text: t });
    });
  }
  return { messages, adjustments: [...adjustments, ...r.adjustments] };
}
