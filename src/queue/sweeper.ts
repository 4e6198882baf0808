/**
 * Safety net for the ready index. A conversation whose holder died needs nothing from here:
 * its lease in the ready index runs out and any worker claims it. The sweeper covers the
 * rarer gap where events are queued but their conversation is not in the index at all (a
 * gateway that died between enqueue and mark and whose POST Facebook never redelivered,
 * or an index entry lost with the last second of AOF), and events left waiting in an
 * overflow list with an empty queue (parked by a version that never read them back). One
 * worker at a time scans every master for conversation queues and overflow lists, puts the
 * missing conversations back, and records how many events wait in overflow lists for the
 * gateways' metrics.
 */
import type { Logger } from '../log';
import type { Metrics } from '../metrics';
import type { ConversationQueue } from './queue';
import { masters } from './redis';

export class Sweeper {
  private timer?: NodeJS.Timeout;
  private running?: Promise<number>;

  constructor(
    private readonly queue: ConversationQueue,
    private readonly intervalMs: number,
    private readonly logger: Logger,
    private readonly metrics: Metrics,
  ) {}

  start(): void {
    this.timer = setInterval(() => {
      this.running ??= this.sweepIfLeader().finally(() => (this.running = undefined));
    }, this.intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running?.catch(() => undefined);
  }

  private async sweepIfLeader(): Promise<number> {
    try {
      const won = await this.queue.redis.set(this.queue.keys.sweeperLock, String(process.pid), 'PX', this.intervalMs, 'NX');
      return won ? await this.sweep() : 0;
    } catch (err) {
      this.logger.warn({ err }, 'sweep skipped: redis unavailable');
      return 0;
    }
  }

  /**
   * Returns how many conversations it put back into the ready index. A conversation seen
   * missing is checked again after `settleMs`: a gateway between its enqueue and its mark
   * looks exactly like that for a moment.
   */
  async sweep(settleMs = 1_000): Promise<number> {
    const { keys, redis } = this.queue;
    const missing = async (c: string) => (await redis.zscore(keys.ready(keys.shardOf(c)), c)) === null;
    const suspects = new Set<string>();
    const overflow = { conversations: 0, events: 0 };
    for (const node of masters(redis)) {
      let cursor = '0';
      do {
        const [next, found] = await node.scan(cursor, 'MATCH', keys.waitingPattern, 'COUNT', 1000);
        cursor = next;
        for (const key of found) {
          const w = keys.waitingKey(key);
          if (!w) continue;
          if (w.kind === 'overflow') {
            const n = await redis.llen(key);
            overflow.conversations += n > 0 ? 1 : 0;
            overflow.events += n;
          }
          if (await missing(w.conversation)) suspects.add(w.conversation);
        }
      } while (cursor !== '0');
    }
    await redis.hset(keys.overflowStats, { conversations: overflow.conversations, events: overflow.events, at: Date.now() });
    if (suspects.size === 0) return 0;
    await new Promise((r) => setTimeout(r, settleMs));
    let restored = 0;
    for (const c of suspects) {
      const k = keys.conversation(c);
      if (!(await redis.exists(k.q)) && !(await redis.exists(k.overflow))) continue;
      // NX: an entry that appeared meanwhile (ready, delayed or leased) is left as it is.
      if ((await redis.zadd(keys.ready(keys.shardOf(c)), 'NX', Date.now(), c)) === 1) {
        restored++;
        this.logger.warn({ conversation: c }, 'sweeper found queued or waiting events outside the ready index: restored');
      }
    }
    if (restored) this.metrics.sweeps.inc(restored);
    return restored;
  }
}

/** What the last sweep counted in the overflow lists (zeros before any sweep). */
export async function overflowStats(queue: ConversationQueue): Promise<{ conversations: number; events: number }> {
  const h = await queue.redis.hgetall(queue.keys.overflowStats);
  return { conversations: Number(h.conversations ?? 0), events: Number(h.events ?? 0) };
}
