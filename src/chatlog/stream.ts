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
  constructor(
    readonly redis: RedisClient,
    readonly prefix: string,
    readonly shards: number,
  ) {}

  key(shard: number): string {
    return `${this.prefix}:chatlog:{l${shard}}`;
  }

  /** By conversation key: the shard of a Messenger conversation is the one it had before channels. */
  shardOf(r: { channel: string; account: string; user: string }): number {
    return fnv1a(conversationKey(r)) % this.shards;
  }

  /**
   * What waits in the stream for the chatlog role, summed over the shards: entries (written
   * ones are deleted, so this is the backlog) and the memory the shard keys take (Redis'
   * sampled MEMORY USAGE estimate). Two cheap commands a shard, for the metrics.
   */
  async backlog(): Promise<{ entries: number; bytes: number }> {
    const shards = await Promise.all(
      Array.from({ length: this.shards }, async (_, s) => {
        const key = this.key(s);
        const [entries, bytes] = await Promise.all([this.redis.xlen(key), this.redis.memory('USAGE', key)]);
        return { entries, bytes: Number(bytes ?? 0) };
      }),
    );
    return shards.reduce((a, b) => ({ entries: a.entries + b.entries, bytes: a.bytes + b.bytes }), { entries: 0, bytes: 0 });
  }

  /**
   * One conversation's records as a queue script appends them itself (finish-n, on one server):
   * the conversation's stream shard and the encoded entries, in order.
   */
  entriesOf(conversation: { channel: string; account: string; user: string }, records: readonly ChatlogRecord[]): { key: string; values: string[] } {
    const shard = this.shardOf(conversation);
    if (records.some((r) => this.shardOf(r) !== shard)) throw new Error('records of another conversation cannot go with this one');
    return { key: this.key(shard), values: records.map((r) => JSON.stringify(r)) };
  }

  /** Records encoded by stream shard, for a queue script that appends them itself (ingest-n, on one server). */
  entries(records: readonly ChatlogRecord[]): { key: string; values: string[] }[] {
    const byKey = new Map<string, string[]>();
    for (const r of records) {
      const key = this.key(this.shardOf(r));
      byKey.set(key, [...(byKey.get(key) ?? []), JSON.stringify(r)]);
    }
    return [...byKey].map(([key, values]) => ({ key, values }));
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
