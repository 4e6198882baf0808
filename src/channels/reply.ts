/**
 * What a bot or an agent says, whatever the platform. Each channel renders a reply within its
 * own limits (text length, number of buttons, which attachments) and says what it changed,
 * so the core never needs to know that Messenger takes 13 quick replies and WhatsApp 3 buttons.
 */

export interface QuickReply {
  title: string;
  payload: string;
}

export interface Button {
  title: string;
  /** A postback payload, or… */
  payload?: string;
  /** …a link the button opens. */
  url?: string;
}

export interface ReplyAttachment {
  type: 'image' | 'video' | 'audio' | 'file';
  url: string;
  /** A file's name, as the user will see it. */
  name?: string;
}

export interface Reply {
  text?: string;
  /** Suggestions shown under the message; tapping one sends its payload as the user's next message. */
  quickReplies?: QuickReply[];
  /** Buttons attached to the text (postbacks or links). */
  buttons?: Button[];
  attachment?: ReplyAttachment;
}

/** Who speaks: agents' messages may need a platform's human-agent tag. */
export type Author = 'bot' | 'agent';

/**
 * One platform message of a rendered reply. `body` is the adapter's own request payload,
 * opaque to the core; `text` and `kind` are what the chatlog records of it.
 */
export interface Rendered<Body = unknown> {
  body: Body;
  text?: string;
  kind: 'text' | 'attachment' | 'buttons' | 'quick_replies';
}

export interface Rendering<Body = unknown> {
  messages: Rendered<Body>[];
  /** What the adapter changed to fit the platform ("text split in 2 messages", "7 quick replies cut to 3"): logged. */
  adjustments: string[];
}

/** Splits a text into pieces of at most `max` characters, at a paragraph, line or word end where there is one. */
export function splitText(text: string, max: number): string[] {
  const out: string[] = [];
  let rest = text;
  while (rest.length > max) {
    const window = rest.slice(0, max);
    let cut = Math.max(window.lastIndexOf('\n\n'), window.lastIndexOf('\n'));
    if (cut < max / 2) cut = window.lastIndexOf(' ');
    if (cut < max / 2) cut = max;
    // Never cut a surrogate pair in two.
    if (cut > 0 && /[\uD800-\uDBFF]/.test(rest[cut - 1]!)) cut--;
    out.push(rest.slice(0, cut).trimEnd());
    rest = rest.slice(cut).trimStart();
  }
  if (rest.length || out.length === 0) out.push(rest);
  return out;
}

/** Cuts a label to `max` characters with an ellipsis, never between the two halves of a surrogate pair. */
export function clipLabel(s: string, max: number): string {
  if (s.length <= max) return s;
  let cut = Math.max(1, max - 1);
  if (/[\uD800-\uDBFF]/.test(s[cut - 1]!)) cut--;
  return `${s.slice(0, cut)}…`;
}
