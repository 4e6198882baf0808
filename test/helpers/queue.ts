/** Queue fixtures: a ConversationQueue on a real Redis with a fresh prefix. */
import type { ParsedEvent } from '../../src/channels/messenger/parse';
import { ConversationQueue } from '../../src/queue/queue';
import { connectRedis, type RedisClient } from '../../src/queue/redis';
import { uniquePrefix, type RedisTargetSpec } from './env';

export async function openQueue(target: RedisTargetSpec, label: string, opts: { shards?: number; cap?: number; maxOverflow?: number } = {}): Promise<ConversationQueue> {
  const redis: RedisClient = await connectRedis({ ...target, commandTimeoutMs: 2_000 }, () => undefined, `test-${label}`);
  return new ConversationQueue(redis, { prefix: uniquePrefix(label), shards: opts.shards ?? 8, dedupeTtlMs: 48 * 3600_000, maxPerConversation: opts.cap ?? 1_000, maxOverflow: opts.maxOverflow ?? 0 });
}

export function textEvent(page: string, user: string, mid: string, ts: number, text = mid): ParsedEvent {
  return { queue: true, event: { id: mid, mid, kind: 'text', pageId: page, userId: user, timestamp: ts, standby: false, text, receivedAt: Date.now() } };
}
