/**
 * Conversation identity: channel + account + user, and the one string that names it in Redis
 * keys (as a hash tag), in the ready index and in admin URLs.
 *
 * The key is `<channel>:<account>:<user>`. Messenger conversations keep the `<page>:<user>`
 * keys they had before there were channels: queues, dedupe markers, dialog contexts and
 * reply ledgers of a running deployment then survive the upgrade untouched (a rolling
 * upgrade has old gateways queueing under the old keys while new workers drain them). A
 * two-part key therefore always means the legacy channel.
 */
import type { InboundEvent } from './event';

export interface ConversationRef {
  channel: string;
  account: string;
  user: string;
}

/** The channel whose conversations were keyed `<page>:<user>` before channels existed. */
export const LEGACY_CHANNEL = 'messenger';

/** Account and user ids: no `:` (the key separator), no braces (the hash tag), no spaces. */
const PART = /^[A-Za-z0-9_.@+=-]{1,128}$/;
const CHANNEL = /^[a-z][a-z0-9_-]{0,31}$/;

export function conversationKey(c: ConversationRef): string {
  return c.channel === LEGACY_CHANNEL ? `${c.account}:${c.user}` : `${c.channel}:${c.account}:${c.user}`;
}

/** The conversation a key names, or undefined when it is not a well-formed key. */
export function parseConversationKey(key: string): ConversationRef | undefined {
  const parts = key.split(':');
  const [channel, account, user] = parts.length === 2 ? [LEGACY_CHANNEL, parts[0]!, parts[1]!] : parts.length === 3 ? [parts[0]!, parts[1]!, parts[2]!] : [];
  if (!channel || !account || !user || !CHANNEL.test(channel) || !PART.test(account) || !PART.test(user)) return undefined;
  if (parts.length === 3 && channel === LEGACY_CHANNEL) return undefined; // one conversation, one key
  return { channel, account, user };
}

/** True when `s` can be an account or user id (it can go into a key unescaped). */
export const isIdPart = (s: string): boolean => PART.test(s);

/** `<channel>:<account>`: how admin scopes and metrics name an account. */
export const accountKey = (channel: string, account: string): string => `${channel}:${account}`;

export const conversationOf = (e: Pick<InboundEvent, 'channel' | 'account' | 'user'>): ConversationRef => ({ channel: e.channel, account: e.account, user: e.user });

/**
 * Payloads queued (and chatlog records appended) by a version before channels carry
 * `pageId`/`userId` and no channel: they are Messenger's. Read them as neutral events.
 */
export function upgradeLegacy<T extends { channel?: string; account?: string; user?: string }>(raw: T & { pageId?: string; userId?: string }): T & ConversationRef {
  if (raw.channel !== undefined && raw.account !== undefined && raw.user !== undefined) return raw as T & ConversationRef;
  const { pageId, userId, ...rest } = raw;
  return { ...(rest as T), channel: raw.channel ?? LEGACY_CHANNEL, account: raw.account ?? pageId ?? '', user: raw.user ?? userId ?? '' };
}
