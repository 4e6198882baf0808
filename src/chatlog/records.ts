/**
 * What producers (gateway, workers) append to the chatlog stream. Times are epoch ms; the
 * writer turns them into timestamptz. One message record becomes one `messages` row.
 */
import type { ConversationRef } from '../channels/conversation';
import type { InboundEvent } from '../channels/event';

/** Every record names its conversation: channel, account, user. */
export interface MessageRecord extends ConversationRef {
  t: 'msg';
  /** The platform's message id (inbound, echoes, sent replies) or a stable synthetic id; unique within the account. */
  mid: string;
  direction: 'in' | 'out';
  kind: string;
  /** Who wrote it: the user, the bot, an agent (through the admin API) or the page (an echo from elsewhere). */
  author?: 'user' | 'bot' | 'agent' | 'page';
  text?: string;
  payload?: string;
  attachments?: unknown[];
  intent?: string;
  score?: number;
  intents?: unknown[];
  entities?: unknown[];
  sentiment?: number;
  error?: string;
  replyToMid?: string;
  replyIndex?: number;
  platformTs?: number;
  receivedAt?: number;
  enqueuedAt?: number;
  startedAt?: number;
  nluMs?: number;
  actionMs?: number;
  sendMs?: number;
  repliedAt?: number;
}

/**
 * Receipts of our own messages: they update the outbound rows they cover, they add none. A
 * watermark covers everything sent before it (Messenger); `mids` name messages (WhatsApp).
 */
export interface ReceiptRecord extends ConversationRef {
  t: 'receipt';
  kind: 'delivery' | 'read' | 'failed';
  watermark?: number;
  mids?: string[];
  /** When the platform saw it (ms), for receipts by message id. */
  at?: number;
  /** `failed`: why the platform could not deliver. */
  error?: string;
}

/** A conversation's inbox status (src/inbox/state.ts); `human` is what versions before the inbox recorded. */
export type RecordedStatus = 'bot' | 'waiting' | 'assigned' | 'resolved' | 'snoozed' | 'human';

/**
 * The conversation's status changed (or its thread moved): updates `conversations.status` and,
 * with an `id`, adds a `status_events` row (the id makes a record written twice one row).
 */
export interface StatusRecord extends ConversationRef {
  t: 'status';
  status: RecordedStatus;
  cause: string;
  /** Who holds it after the change. */
  agent?: string;
  at: number;
  id?: string;
  from?: RecordedStatus;
  /** Who made the change: an agent's name, 'bot' or 'system'. */
  by?: string;
  waitingSince?: number;
  snoozedUntil?: number;
}

/** An answer to the satisfaction survey (1-5). */
export interface CsatRecord extends ConversationRef {
  t: 'csat';
  id: string;
  score: number;
  agent?: string;
  at: number;
}

/** Who the user is, from the platform's profile API (or the webhook): shown instead of the raw id. */
export interface ProfileRecord extends ConversationRef {
  t: 'profile';
  name?: string;
  firstName?: string;
  avatarUrl?: string;
  at: number;
}

export type ChatlogRecord = MessageRecord | ReceiptRecord | StatusRecord | CsatRecord | ProfileRecord;

/** The record of an inbound event (or a receipt), with what the worker measured. */
export function recordOfEvent(e: InboundEvent, measured: Partial<MessageRecord> = {}): ChatlogRecord {
  const ref = { channel: e.channel, account: e.account, user: e.user };
  if ((e.kind === 'delivery' || e.kind === 'read' || e.kind === 'failed') && (e.watermark !== undefined || e.mids?.length)) {
    return {
      t: 'receipt',
      ...ref,
      kind: e.kind,
      ...(e.watermark !== undefined ? { watermark: e.watermark } : { mids: e.mids!, at: e.timestamp }),
      ...(e.error !== undefined ? { error: e.error } : {}),
    };
  }
  const payload = e.payload ?? e.referral?.ref ?? e.optin?.ref ?? e.reaction?.reaction;
  return {
    t: 'msg',
    ...ref,
    mid: e.id,
    // An echo is a message the page sent from elsewhere (page inbox, another app).
    direction: e.kind === 'echo' ? 'out' : 'in',
    author: e.kind === 'echo' ? 'page' : 'user',
    kind: e.standby ? `standby_${e.kind}` : e.kind,
    // A tapped button's title is what the user "said" (the payload is kept beside it).
    ...(e.text !== undefined ? { text: e.text } : e.kind === 'postback' && e.title !== undefined ? { text: e.title } : {}),
    ...(payload !== undefined ? { payload } : {}),
    ...(e.attachments ? { attachments: e.attachments } : {}),
    platformTs: e.timestamp,
    receivedAt: e.receivedAt,
    ...(e.enqueuedAt !== undefined ? { enqueuedAt: e.enqueuedAt } : {}),
    ...measured,
  };
}
