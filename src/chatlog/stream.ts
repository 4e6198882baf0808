/**
 * The chatlog stream: producers append records here and never wait for PostgreSQL. It is
 * split into shards with hash tags of their own (by conversation, so one conversation's
 * records stay in order) to spread the load over a cluster's masters.
 */
import { conversationKey } from '../channels/conversation';
import { fnv1a } from '../queue/keys';
import type { RedisClient } from '../queue/redis';
import type { ChatlogRecord } from './records';

export const CHATLOG_GROUP = 'chatlog';

export class ChatlogStream {
  constructor(readonly redis: RedisClient, readonly prefix: string, readonly shards: number) {}

  key(shard: number): string {
    return `${this.prefix}:chatlog:{l${shard}}`;
  }

  /** By conversation key: the shard of a Messenger conversation is the one it had before channels. */
  shardOf(r: { channel: string; account: string; user: string }): number {
    return fnv1a(conversationKey(r)) % this.shards;
  }

  /** Appends records (one round trip per shard touched). */
  async append(records: readonly ChatlogRecord[]): Promise<void> {
    if (records.length === 0) return;
    const byShard = new Map<number, ChatlogRecord[]>();
    for (const r of records) {
      const s = this.shardOf(r);
      byShard.set(s, [...(byShard.get(s) ?? []), r]);
    }
    await Promise.all(
      [...byShard].map(async ([shard, list]) => {
        const p = this.redis.pipeline();
        for (const r of list) p.xadd(this.key(shard), '*', 'r', JSON.stringify(r));
        const results = (await p.exec()) ?? [];
        const failed = results.find(([err]) => err);
        if (failed) throw failed[0];
      }),
    );
  }
}
