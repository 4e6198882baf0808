/**
 * Inbox events — status changes, presence, typing — on Redis pub/sub, published by whichever
 * process made the change (a worker, any gateway) and pushed by every gateway to its admin
 * app streams (admin/live.ts), filtered by account. One subscriber connection per gateway.
 * ioredis' Cluster client subscribes on one node and PUBLISH reaches every node, so the same
 * code serves standalone and cluster.
 */
import type { Logger } from '../log';
import { Cluster, type Redis } from 'ioredis';
import type { RedisClient } from '../queue/redis';
import type { InboxStatus } from './state';

export type InboxEvent =
  | { type: 'status'; key: string; channel: string; account: string; user: string; from: InboxStatus; to: InboxStatus; agent?: string; by: string; cause: string; at: number; waitingSince?: number; name?: string }
  | { type: 'typing'; key: string; channel: string; account: string; agent: string; at: number }
  | { type: 'presence'; agent: string; status: 'online' | 'away' | 'offline'; accounts: readonly string[] | '*'; at: number };

export class InboxBus {
  private sub?: RedisClient;
  private readonly handlers = new Set<(e: InboxEvent) => void>();

  constructor(
    private readonly redis: RedisClient,
    prefix: string,
    private readonly logger: Logger,
  ) {
    this.channel = `${prefix}:inbox:events`;
  }

  readonly channel: string;

  /** Best effort: an event lost with a Redis hiccup costs an agent a refresh, never a message. */
  publish(e: InboxEvent): void {
    this.redis.publish(this.channel, JSON.stringify(e)).catch((err) => this.logger.warn({ err, type: e.type }, 'inbox event not published: redis unavailable'));
  }

  /** Subscribes once (lazily, on the first handler); returns the unsubscribe. */
  async on(handler: (e: InboxEvent) => void): Promise<() => void> {
    this.handlers.add(handler);
    if (!this.sub) {
      // Its own connection (a subscribed one takes no other command), queueing until it is ready.
      const sub: RedisClient = this.redis instanceof Cluster ? this.redis.duplicate(undefined, { enableOfflineQueue: true }) : (this.redis as Redis).duplicate({ enableOfflineQueue: true });
      this.sub = sub;
      sub.on('error', (err: Error) => this.logger.debug({ err: err.message }, 'inbox subscriber connection error'));
      sub.on('message', (_channel: string, text: string) => {
        let e: InboxEvent;
        try {
          e = JSON.parse(text) as InboxEvent;
        } catch {
          return;
        }
        for (const h of this.handlers) h(e);
      });
      await sub.subscribe(this.channel);
    }
    return () => this.handlers.delete(handler);
  }

  close(): void {
    this.sub?.disconnect();
    this.sub = undefined;
  }
}
