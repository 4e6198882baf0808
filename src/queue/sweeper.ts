/**
 * Safety net for the ready index. A conversation whose holder died needs nothing from here:
 * its lease in the ready index runs out and any worker claims it. The sweeper covers the
 * rarer gap where events are queued but their conversation is not in the index at all (a
 * gateway that died between enqueue and mark and whose POST Facebook never redelivered,
 * or an index entry lost with the last second of AOF). One worker at a time scans every
 * master for conversation queues and puts the missing ones back.
 */
import type { Logger } from '../log';
import type { Metrics } from '../metrics';
import type { ConversationQueue } from './queue';
import { masters } from './redis';

export class Sweeper {
  private timer?: NodeJS.Timeout;
  private running?: Promise<number>;

  constructor(private readonly queue: ConversationQueue, private readonly intervalMs: number, private readonly logger: Logger, private readonly metrics: Metrics) {}

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
    const suspects: string[] = [];
    for (const node of masters(redis)) {
      let cursor = '0';
      do {
        const [next, found] = await node.scan(cursor, 'MATCH', keys.queuePattern, 'COUNT', 1000);
        cursor = next;
        for (const key of found) {
          const c = keys.conversationOfQueueKey(key);
          if (c !== undefined && (await missing(c))) suspects.push(c);
        }
      } while (cursor !== '0');
    }
    if (suspects.length === 0) return 0;
    await new Promise((r) => setTimeout(r, settleMs));
    let restored = 0;
    for (const c of suspects) {
      if (!(await redis.exists(keys.conversation(c).q))) continue;
      // NX: an entry that appeared meanwhile (ready, delayed or leased) is left as it is.
      if ((await redis.zadd(keys.ready(keys.shardOf(c)), 'NX', Date.now(), c)) === 1) {
        restored++;
        this.logger.warn({ conversation: c }, 'sweeper found queued events outside the ready index: restored');
      }
    }
    if (restored) this.metrics.sweeps.inc(restored);
    return restored;
  }
}
