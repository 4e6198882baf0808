/**
 * Redis key names. Every key of one conversation carries the hash tag `{<conversation key>}`
 * (channels/conversation.ts) so that multi-key scripts run unchanged on Redis Cluster; the
 * ready index is split into shards with tags of their own so its load spreads over the
 * cluster's masters.
 */

export interface ConversationKeys {
  q: string;
  ev: string;
  seen: string;
  sent: string;
  seq: string;
  overflow: string;
  lock: string;
}

/**
 * A conversation lock's value: the holding worker's id, '/', then random bytes. Only the
 * holder knows the whole value (so only it can extend, release or ack); the id before the
 * '/' lets the reaper break the locks of a worker that died. Hostnames never contain '/'.
 */
export const lockValuePrefix = (worker: string) => `${worker}/`;

/** FNV-1a: cheap and stable across processes and versions (the shard of a conversation must never move). */
export function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

export class Keys {
  constructor(
    readonly prefix: string,
    readonly shards: number,
  ) {}

  /** A conversation's keys (claim-peek-n.lua names the same ones from the prefix: change both together). */
  conversation(id: string): ConversationKeys {
    const base = `${this.prefix}:{${id}}`;
    return { q: `${base}:q`, ev: `${base}:ev`, seen: `${base}:seen`, sent: `${base}:sent`, seq: `${base}:seq`, overflow: `${base}:overflow`, lock: `${base}:lock` };
  }

  shardOf(conversation: string): number {
    return fnv1a(conversation) % this.shards;
  }

  ready(shard: number): string {
    return `${this.prefix}:ready:{r${shard}}`;
  }

  /** Hash beside a ready shard (same slot): leased conversation id -> the worker that claimed it. */
  owners(shard: number): string {
    return `${this.prefix}:ready:{r${shard}}:owners`;
  }

  /** Flag beside a ready shard (same slot), set for a while by a claim round that found the shard drained (lua/include/claim.lua). */
  idle(shard: number): string {
    return `${this.prefix}:ready:{r${shard}}:idle`;
  }

  /** Pub/sub channel on which a script that makes work claimable in an idle shard wakes the workers (lua/include/wake.lua derives it from the ready key: change both together). */
  get wake(): string {
    return `${this.prefix}:wake`;
  }

  /** Zset of live workers: worker id -> Redis ms of its last heartbeat. */
  get workers(): string {
    return `${this.prefix}:{workers}`;
  }

  /** Pattern matching every conversation queue and overflow list (and few other keys), for the sweeper's SCAN. */
  get waitingPattern(): string {
    return `${this.prefix}:{*}:[qo]*`;
  }

  /** The conversation of a queue or overflow key, and which of the two it is; undefined for any other key. */
  waitingKey(key: string): { conversation: string; kind: 'q' | 'overflow' } | undefined {
    const m = /^[^{]*\{([^}]+)\}:(q|overflow)$/.exec(key);
    return m ? { conversation: m[1]!, kind: m[2] as 'q' | 'overflow' } : undefined;
  }

  /** Hash: what the last sweep counted in the overflow lists (conversations, events, at). */
  get overflowStats(): string {
    return `${this.prefix}:overflow-stats`;
  }

  get sweeperLock(): string {
    return `${this.prefix}:sweeper`;
  }
}
