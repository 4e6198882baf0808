/**
 * Instagram's confirmation key: what a send and its echo have in common. Instagram's echo
 * carries no metadata (Meta documents the echo's `message` as mid, text, attachments and flags
 * only: docs/channel-instagram.md), so an echo cannot say which reply it confirms; it can say
 * what was sent. The key is a hash of that content — the text, or for a message without text
 * the attachment type (Meta echoes media with its own CDN URL, not ours) — computed the same
 * way from the message we send and from the echo Meta posts. The reply ledger counts echoes of
 * a key against our sends of it (src/queue/lua/reply-2.lua), so an echo of an earlier
 * identical message never passes for a later one.
 */
import crypto from 'node:crypto';
import type { SendMessage } from '../messenger/render';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The key of a message's content: its text, or else its attachment's type; undefined when it has neither. */
export function contentKey(c: { text?: string | undefined; attachment?: string | undefined }): string | undefined {
  const what = c.text ? `t:${c.text}` : c.attachment ? `a:${c.attachment}` : undefined;
  // base64url: no ':' (the ledger's mark separates fields with it), 22 characters, 132 bits.
  return what === undefined ? undefined : crypto.createHash('sha256').update(what).digest('base64url').slice(0, 22);
}

/** The text a template shows (a button template's `text`), which its echo repeats. */
function templateText(attachment: Obj | undefined): string | undefined {
  const p = isObj(attachment?.payload) ? attachment.payload : undefined;
  return attachment?.type === 'template' && typeof p?.text === 'string' ? p.text : undefined;
}

/** The key of a Send API `message` we are about to send. */
export function sentKey(m: SendMessage): string | undefined {
  const a = m.attachment as Obj | undefined;
  return contentKey({ text: m.text ?? templateText(a), attachment: typeof a?.type === 'string' ? a.type : undefined });
}

/** The key of an echo's `message` (Meta's webhook), the same as its send's. */
export function echoKey(message: Obj): string | undefined {
  const first = Array.isArray(message.attachments) && isObj(message.attachments[0]) ? message.attachments[0] : undefined;
  const text = typeof message.text === 'string' ? message.text : templateText(first);
  return contentKey({ text, attachment: typeof first?.type === 'string' ? first.type : undefined });
}
