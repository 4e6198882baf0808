/** Queue fixtures: a ConversationQueue on a real Redis with a fresh prefix. */
import { conversationKey } from '../../src/channels/conversation';
import type { InboundEvent } from '../../src/channels/event';
import { ConversationQueue, type QueueItem } from '../../src/queue/queue';
import { connectRedis, type RedisClient } from '../../src/queue/redis';
import { uniquePrefix, type RedisTargetSpec } from './env';

export async function openQueue(target: RedisTargetSpec, label: string, opts: { shards?: number; cap?: number; maxOverflow?: number } = {}): Promise<ConversationQueue> {
  const redis: RedisClient = await connectRedis({ ...target, commandTimeoutMs: 2_000 }, () => undefined, `test-${label}`);
  return new ConversationQueue(redis, { prefix: uniquePrefix(label), shards: opts.shards ?? 8, dedupeTtlMs: 48 * 3600_000, maxPerConversation: opts.cap ?? 1_000, maxOverflow: opts.maxOverflow ?? 0 });
}

/** The key of a Messenger conversation (page, user). */
export const conversationId = (page: string, user: string): string => conversationKey({ channel: 'messenger', account: page, user });

export function textEvent(page: string, user: string, mid: string, ts: number, text = mid): QueueItem {
  const event: InboundEvent = { id: mid, mid, kind: 'text', channel: 'messenger', account: page, user, timestamp: ts, text, receivedAt: Date.now() };
  return { id: mid, timestamp: ts, payload: JSON.stringify(event), queue: true };
}

/** The event id of a queue payload. */
export const idOf = (payload: string): string => (JSON.parse(payload) as InboundEvent).id;
