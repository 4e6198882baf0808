/**
 * What producers (gateway, workers) append to the chatlog stream. Times are epoch ms; the
 * writer turns them into timestamptz. One message record becomes one `messages` row.
 */
import type { InboundEvent } from '../channels/messenger/types';

export interface MessageRecord {
  t: 'msg';
  pageId: string;
  userId: string;
  /** Facebook's mid (inbound, echoes, sent replies) or a stable synthetic id. */
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

/** Delivery/read watermarks: they update the outbound rows they cover, they add none. */
export interface ReceiptRecord {
  t: 'receipt';
  pageId: string;
  userId: string;
  kind: 'delivery' | 'read';
  watermark: number;
}

/** The conversation changed hands (bot ↔ human): updates `conversations.status`. */
export interface StatusRecord {
  t: 'status';
  pageId: string;
  userId: string;
  status: 'bot' | 'human';
  cause: string;
  agent?: string;
  at: number;
}

export type ChatlogRecord = MessageRecord | ReceiptRecord | StatusRecord;

/** The record of an inbound event (or a receipt), with what the worker measured. */
export function recordOfEvent(e: InboundEvent, measured: Partial<MessageRecord> = {}): ChatlogRecord {
  if ((e.kind === 'delivery' || e.kind === 'read') && e.watermark !== undefined) {
    return { t: 'receipt', pageId: e.pageId, userId: e.userId, kind: e.kind, watermark: e.watermark };
  }
  const payload = e.payload ?? e.referral?.ref ?? e.optin?.ref ?? e.reaction?.reaction;
  return {
    t: 'msg',
    pageId: e.pageId,
    userId: e.userId,
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
