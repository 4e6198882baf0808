/** Messenger events as the pipeline sees them, after normalisation of Facebook's wire format. */

export type AttachmentKind = 'image' | 'video' | 'audio' | 'file' | 'location' | 'fallback' | 'sticker' | 'template' | 'reel' | 'ig_reel';
export type EventKind =
  | 'text'
  | 'quick_reply'
  | AttachmentKind
  | 'postback'
  | 'reaction'
  | 'referral'
  | 'optin'
  | 'echo'
  | 'delivery'
  | 'read'
  // Not from Facebook: put in a conversation's queue by the admin API, so an agent's
  // actions keep their place among the user's messages.
  | AgentKind;

export type AgentKind = 'agent' | 'takeover' | 'release';
export const AGENT_KINDS: ReadonlySet<EventKind> = new Set<EventKind>(['agent', 'takeover', 'release']);

export interface Attachment {
  type: string;
  url?: string;
  title?: string;
  stickerId?: number;
  coordinates?: { lat: number; long: number };
}

/** One webhook event, normalised. Stored as the queue payload, so keep it plain JSON. */
export interface InboundEvent {
  /** Dedupe key: the message mid, or a stable hash for events that have none. */
  id: string;
  mid?: string;
  kind: EventKind;
  pageId: string;
  /** The user's page-scoped id (PSID): the other side of the conversation. */
  userId: string;
  /** Facebook's timestamp (ms): when the user sent it. */
  timestamp: number;
  /** Arrived in `standby` (another app owns the thread): recorded, never answered. */
  standby: boolean;
  text?: string;
  payload?: string;
  title?: string;
  attachments?: Attachment[];
  replyTo?: string;
  reaction?: { reaction?: string; emoji?: string; action?: string; mid?: string };
  referral?: { ref?: string; source?: string; type?: string };
  optin?: { ref?: string; userRef?: string; type?: string; payload?: string };
  watermark?: number;
  mids?: string[];
  /** Echo only: the metadata string we attached when sending, and the sending app. */
  metadata?: string;
  appId?: number;
  /** Agent events only: who did it. */
  agent?: string;
  receivedAt: number;
  enqueuedAt?: number;
}

/** Kinds a bot answers; the others are recorded only. */
export const ANSWERED_KINDS: ReadonlySet<EventKind> = new Set<EventKind>([
  'text', 'quick_reply', 'image', 'video', 'audio', 'file', 'location', 'fallback', 'sticker', 'template', 'reel', 'ig_reel', 'postback', 'referral',
]);

export function isAnswered(e: InboundEvent): boolean {
  return !e.standby && ANSWERED_KINDS.has(e.kind);
}

/** Events the bot handles: what users send, and what agents do. */
export function isHandled(e: InboundEvent): boolean {
  return isAnswered(e) || AGENT_KINDS.has(e.kind);
}

export interface QuickReply {
  content_type: 'text' | 'user_phone_number' | 'user_email';
  title?: string;
  payload?: string;
}

/** The `message` object of a Send API request. */
export interface OutboundMessage {
  text?: string;
  attachment?: unknown;
  quick_replies?: QuickReply[];
}

export interface SendRequest {
  recipient: { id: string };
  messaging_type: 'RESPONSE' | 'UPDATE' | 'MESSAGE_TAG';
  tag?: string;
  message?: OutboundMessage & { metadata?: string };
  sender_action?: 'typing_on' | 'typing_off' | 'mark_seen';
}

export interface SendResult {
  recipientId: string;
  messageId?: string;
  attempts: number;
}

/** The metadata every reply carries: which inbound event it answers, and which reply of it. */
export interface ReplyMetadata {
  mid: string;
  i: number;
}
