/**
 * What the core knows of an inbound event, whatever the platform: the neutral shape every
 * channel adapter parses its webhooks (or socket frames) into. It is the queue payload, so it
 * stays plain JSON. A conversation is one user of one account on one channel.
 */

/** Kinds the core treats alike on every channel; adapters map their platform's types onto them. */
export type EventKind =
  | 'text'
  | 'quick_reply'
  | 'postback'
  // Attachments (the first one names the kind); `fallback` is a shared link, `template`/`reel`
  // /`ig_reel` are Meta shares: kept so the chatlog's existing kinds keep their meaning.
  | 'image'
  | 'video'
  | 'audio'
  | 'file'
  | 'location'
  | 'sticker'
  | 'contact'
  | 'fallback'
  | 'template'
  | 'reel'
  | 'ig_reel'
  // Instagram's shares and story mentions, and media it could not pass on (`is_unsupported`).
  | 'share'
  | 'ig_post'
  | 'ig_story'
  | 'story'
  | 'story_mention'
  | 'unsupported'
  | 'referral'
  | 'reaction'
  | 'optin'
  /** A message the business sent from elsewhere (the platform's own inbox, another app). */
  | 'echo'
  /** The user took back (unsent) or edited a message of theirs: recorded, never answered. */
  | 'deleted'
  | 'edit'
  /** Receipts of our own messages: they update outbound rows, they add none. */
  | 'delivery'
  | 'read'
  | 'failed'
  /** Messenger's Handover Protocol: thread control passed to us, taken from us, requested by another app. */
  | 'pass_thread_control'
  | 'take_thread_control'
  | 'request_thread_control'
  | AgentKind
  | InternalKind;

/** Not from a platform: put in a conversation's queue by the admin API, so an agent's actions keep their place among the user's messages. */
export type AgentKind = 'agent' | 'takeover' | 'release';
/**
 * Not from a platform either: queued by the inbox itself in the conversation's order — the
 * "nobody claimed it yet" notice, a Handover Protocol call, the satisfaction survey.
 */
export type InternalKind = 'notice' | 'handover' | 'csat';
/** Every kind that is not from a platform: handled in order, never logged as the user's message. */
export const AGENT_KINDS: ReadonlySet<string> = new Set<AgentKind | InternalKind>(['agent', 'takeover', 'release', 'notice', 'handover', 'csat']);
/** Platform events the inbox acts on without answering: the page's own messages from elsewhere, thread control. */
export const INBOX_KINDS: ReadonlySet<string> = new Set<EventKind>(['echo', 'pass_thread_control', 'take_thread_control', 'request_thread_control']);

/** Recorded, never answered. */
const RECORD_ONLY: ReadonlySet<string> = new Set<EventKind>(['reaction', 'optin', 'echo', 'deleted', 'edit', 'delivery', 'read', 'failed', 'pass_thread_control', 'take_thread_control', 'request_thread_control']);

export interface Attachment {
  type: string;
  url?: string;
  title?: string;
  /** A platform's id of the media (WhatsApp media id, LINE message id) when there is no URL. */
  mediaId?: string;
  stickerId?: number | string;
  coordinates?: { lat: number; long: number };
}

export interface InboundEvent {
  /** Dedupe key, unique within the account: the platform's message or event id, or a stable hash. */
  id: string;
  /** The platform's message id when it has one (Messenger mid, WhatsApp wamid, LINE message id). */
  mid?: string;
  kind: EventKind;
  /** The adapter's type: `messenger`, `instagram`, `whatsapp`, `line`, `webchat`, … */
  channel: string;
  /** The tenant: page, Instagram account, WhatsApp phone number id, LINE channel, web chat site. */
  account: string;
  /** The other side of the conversation: the platform's id of the user. */
  user: string;
  /** The platform's time of the event (ms): the order of a user's messages. */
  timestamp: number;
  /** Arrived while another app owns the thread (Messenger's `standby`): recorded, never answered. */
  standby?: boolean;
  text?: string;
  payload?: string;
  /** The tapped button's title (postbacks). */
  title?: string;
  attachments?: Attachment[];
  replyTo?: string;
  /** Instagram: the story a message replies to (`reply_to.story`). */
  story?: { id?: string; url?: string };
  reaction?: { reaction?: string; emoji?: string; action?: string; mid?: string };
  referral?: { ref?: string; source?: string; type?: string };
  optin?: { ref?: string; userRef?: string; type?: string; payload?: string };
  /** Receipts: everything we sent before this time (Messenger), or these message ids (WhatsApp). */
  watermark?: number;
  mids?: string[];
  /** `failed` receipts: why the platform could not deliver. */
  error?: string;
  /** Echoes: the metadata the sender attached, and the sending app. */
  metadata?: string;
  appId?: number;
  /** Echoes that name no sender (Instagram): the channel's confirmation key of their content (ours or a person's?). */
  contentKey?: string;
  /** Agent events only: who did it. */
  agent?: string;
  /** Handover Protocol events: the apps involved (ids as strings) and the caller's metadata. */
  thread?: { newOwner?: string; previousOwner?: string; requestedOwner?: string; metadata?: string };
  /** The user's display name, when the webhook carries it (WhatsApp contacts). */
  profileName?: string;
  receivedAt: number;
  enqueuedAt?: number;
}

/** Events a bot answers: what users send. */
export function isAnswered(e: InboundEvent): boolean {
  return !e.standby && !RECORD_ONLY.has(e.kind) && !AGENT_KINDS.has(e.kind);
}

/** Events the bot handles: what users send, what agents do, and what the inbox acts on (echoes from elsewhere, thread control). */
export function isHandled(e: InboundEvent): boolean {
  return isAnswered(e) || AGENT_KINDS.has(e.kind) || INBOX_KINDS.has(e.kind);
}

/**
 * One verified webhook event, parsed. `confirms` names one of our own replies that the
 * platform says went out (an echo carrying our metadata, a WhatsApp status carrying our
 * callback data): the reply ledger's proof after a crash.
 */
export interface ParsedEvent {
  event: InboundEvent;
  confirms?: ReplyRef;
  /**
   * A report of one of the account's sends that names its content, not which reply it was
   * (Instagram's echo has no metadata): the channel's `confirmationKey` of that content. The
   * reply ledger counts these against the sends of the same content (src/queue/lua/reply-2.lua).
   */
  confirmsKey?: string;
  /** false for events that are recorded but need no worker (confirmations of our own sends). */
  queue: boolean;
}

export interface ParseResult {
  events: ParsedEvent[];
  /** Events of kinds the adapter does not know: counted and logged by the caller, never fatal. */
  unknown: { path: string; keys: string[]; raw: unknown }[];
}

/** Reply `index` of inbound event `event`: what every send carries so its confirmation can name it. */
export interface ReplyRef {
  event: string;
  index: number;
}

/** The token a send carries (Messenger `metadata`, WhatsApp `biz_opaque_callback_data`): `{"mid":…,"i":…}`, as replies carried before channels existed. */
export function replyToken(ref: ReplyRef): string {
  return JSON.stringify({ mid: ref.event, i: ref.index });
}

/** The reply a token names, or undefined for a token that is not ours (set by another app). */
export function parseReplyToken(s: string | undefined): ReplyRef | undefined {
  if (!s) return undefined;
  try {
    const m = JSON.parse(s) as Record<string, unknown>;
    if (typeof m.mid === 'string' && m.mid.length > 0 && m.mid.length <= 256 && Number.isInteger(m.i) && (m.i as number) >= 0) return { event: m.mid, index: m.i as number };
  } catch {
    /* not ours */
  }
  return undefined;
}

/** Input a channel refused: the message names the offending field; `status` is the HTTP answer. */
export class WebhookInputError extends Error {
  override readonly name = 'WebhookInputError';
  constructor(
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}
