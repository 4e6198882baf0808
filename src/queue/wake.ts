/**
 * Wake-ups for idle workers. A worker whose polling round found every shard drained waits
 * instead of polling again: until a wake-up, until the earliest entry of its shards is due, or
 * at most `WORKER_POLL_MS`. A round that drains a shard flags it idle (lua/include/claim.lua);
 * the next script that makes work claimable there — a gateway's mark, a hand-back, the reaper —
 * clears the flag and publishes on `Keys.wake` (lua/include/wake.lua). Under load no shard is
 * flagged and nothing is published; when idle, a worker costs one claim call per poll interval
 * instead of one every 20 ms.
 *
 * One subscriber connection per process, shared by its waits. Pub/sub is at most once: a
 * wake-up lost with the connection costs at most one poll interval, and a reconnect wakes
 * every wait (a round then sees what was missed). ioredis' Cluster client subscribes on one node
 * and PUBLISH reaches every node, so the same code serves standalone and cluster.
 */
import { Cluster, type Redis } from 'ioredis';
import type { Logger } from '../log';
import type { RedisClient } from './redis';

export class WakeUps {
  private sub?: RedisClient;
  /** Bumped by every wake-up: a wait that began after a given generation ends when it moves. */
  private gen = 0;
  private readonly waiting = new Set<() => void>();

  constructor(
    private readonly redis: RedisClient,
    readonly channel: string,
    private readonly logger: Logger,
  ) {}

  /** Subscribes (its own connection: a subscribed one runs no other command). */
  async start(): Promise<void> {
    if (this.sub) return;
    const sub: RedisClient = this.redis instanceof Cluster ? this.redis.duplicate(undefined, { enableOfflineQueue: true }) : (this.redis as Redis).duplicate({ enableOfflineQueue: true, connectionName: 'cb-wake-sub' });
    this.sub = sub;
    sub.on('error', (err: Error) => this.logger.debug({ err: err.message }, 'wake-up subscriber connection error'));
    sub.on('message', () => this.wake());
    // Wake-ups published while the connection was down are lost: every wait polls now.
    sub.on('ready', () => this.wake());
    await sub.subscribe(this.channel);
  }

  /** The current generation: take it before a polling round, hand it to `wait` after. */
  get generation(): number {
    return this.gen;
  }

  /** Ends every wait (a wake-up came, the subscriber reconnected, or the worker stops). */
  wake(): void {
    this.gen++;
    for (const w of [...this.waiting]) w();
  }

  /**
   * Waits up to `ms` unless a wake-up came after generation `since` (then returns at once).
   * Returns true if a wake-up ended it.
   */
  wait(since: number, ms: number): Promise<boolean> {
    if (this.gen !== since) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = (woken: boolean) => {
        clearTimeout(timer);
        this.waiting.delete(end);
        resolve(woken);
      };
      const end = () => done(true);
      const timer = setTimeout(() => done(false), ms);
      this.waiting.add(end);
    });
  }

  close(): void {
    this.wake();
    this.sub?.disconnect();
    this.sub = undefined;
  }
}
