/**
 * Worker liveness: how a killed worker's conversations resume in about WORKER_DEAD_AFTER_MS
 * (2 s) instead of the lock TTL (10 s).
 *
 * Every worker beats into a registry (beat-1: worker id -> Redis ms) eight times per
 * WORKER_DEAD_AFTER_MS (every 250 ms at the default 2 s). A worker silent for longer is
 * presumed dead, and the first live worker to see it (ZREM decides who) hands its
 * conversations over: claim-n recorded which worker leased each conversation in its shard's
 * owners hash, so the reaper breaks that worker's conversation locks (unlock-1: only values
 * starting with its id), then makes its leases claimable at once (reap-2). A dead worker is
 * seen 1.75-2.25 s after it died; it takes a stall of at least 1.75 s for a live one to be
 * taken for dead. Nothing else changes: fencing still guards every ack and send, and the lease
 * and lock TTL remain the backstop when no worker is alive to reap.
 *
 * Why not a shorter lock TTL (say 2 s): it recovers as fast, but it ties recovery to every
 * lock and lease. Each visit longer than a third of the TTL pays extension round trips, a
 * visit that outlives the 2 s lease (a slow or retried Send API call) has other workers
 * spinning on its busy lock, a stall of as little as 1.33 s (two thirds of the TTL) loses a lock,
 * and a Redis restart longer than the TTL expires every lock at once. Measured with `npm run
 * chaos -- --quick` back to back on the 2-core box (load average 7-12): LOCK_TTL_MS=2000
 * resumed killed workers' conversations in 1.9-2.1 s but lost 13 locks, fenced 13 acks and
 * met 95 busy locks; the heartbeat lost and fenced none, met 3. Here one beat per worker
 * carries liveness, and a worker reaps only after its own beats have gone through for
 * WORKER_DEAD_AFTER_MS, so after an outage that silenced everyone, every live worker has
 * beaten again before anyone is judged.
 *
 * A worker that finds itself presumed dead while alive (its beat came too late) counts it
 * (cb_worker_presumed_dead_total), says so, and carries on: its conversations are fenced,
 * so what it costs is repeated work and a wait for an echo. A duplicate reply would take
 * a stall in the middle of a send past the new holder's echo wait (SEND_ECHO_GRACE_MS
 * after the send began): Send API retries do not ask whether the lock is still held.
 * Known limit: a conversation whose visit outlived its 10 s lease was re-leased by the
 * claimers that found its lock busy, so if its holder then dies it waits for the lock TTL.
 */
import type { Logger } from '../log';
import type { Metrics } from '../metrics';
import { lockValuePrefix } from './keys';
import type { ConversationQueue } from './queue';

type LivenessMetrics = Pick<Metrics, 'heartbeatGap' | 'presumedDead' | 'deadWorkers' | 'takenOver'>;

export class Liveness {
  private timer?: NodeJS.Timeout;
  private beating?: Promise<void>;
  private reaping?: Promise<void>;
  /** Redis ms of this worker's last beat that went through. */
  private last?: number;
  /** Redis ms since which this worker's beats have gone through without a long gap. */
  private steadySince?: number;
  private lastWarning = 0;

  constructor(
    private readonly queue: ConversationQueue,
    readonly worker: string,
    private readonly deadAfterMs: number,
    /** The lease claim-n gives (LOCK_TTL_MS): a reaped conversation gets its claim time back as its score. */
    private readonly leaseMs: number,
    private readonly logger: Logger,
    private readonly metrics: LivenessMetrics,
  ) {}

  /**
   * Shorter beats cost a call each (one slot, trivial) and buy stall tolerance: a worker is
   * presumed dead after a stall of deadAfterMs minus this.
   */
  get intervalMs(): number {
    return Math.max(25, Math.floor(this.deadAfterMs / 8));
  }

  start(): void {
    if (this.timer) return;
    this.logger.info({ worker: this.worker, deadAfterMs: this.deadAfterMs }, 'worker heartbeat started');
    this.tick();
    this.timer = setInterval(() => this.tick(), this.intervalMs);
  }

  /** After the worker drained (it must keep beating while it drains): leaves the registry. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    await Promise.allSettled([this.beating, this.reaping]);
    await this.queue.redis.zrem(this.queue.keys.workers, this.worker).catch(() => undefined);
  }

  private tick(): void {
    // One beat at a time: a slow one (Redis busy) is not stacked on.
    this.beating ??= this.beat().finally(() => (this.beating = undefined));
  }

  private async beat(): Promise<void> {
    const { redis, keys } = this.queue;
    let reply: (string | number)[];
    try {
      reply = await redis.cbBeat(keys.workers, this.worker, this.deadAfterMs, 8);
    } catch (err) {
      this.steadySince = undefined;
      if (Date.now() - this.lastWarning > 5_000) {
        this.lastWarning = Date.now();
        this.logger.warn({ err }, 'worker heartbeat failed: redis unavailable, retrying');
      }
      return;
    }
    const now = Number(reply[0]);
    const gap = this.last === undefined ? 0 : now - this.last;
    if (this.last !== undefined) {
      this.metrics.heartbeatGap.observe(gap / 1000);
      if (Number(reply[1]) !== 1) {
        this.metrics.presumedDead.inc();
        this.logger.warn({ worker: this.worker, silentMs: gap }, 'this worker was presumed dead (its heartbeat came too late): its conversations were handed over; carrying on');
      }
    }
    this.last = now;
    if (this.steadySince === undefined || gap > this.deadAfterMs / 2) this.steadySince = now;
    const dead = reply
      .slice(2)
      .map(String)
      .filter((w) => w !== this.worker);
    // Judge others only on a view of our own that has been sound for a whole dead-after period.
    if (dead.length > 0 && now - this.steadySince >= this.deadAfterMs) this.reaping ??= this.reapAll(dead).finally(() => (this.reaping = undefined));
  }

  private async reapAll(dead: string[]): Promise<void> {
    for (const w of dead) {
      try {
        await this.reap(w);
      } catch (err) {
        this.logger.warn({ err, worker: w }, "handing over a dead worker's conversations failed: will try again");
      }
    }
  }

  /**
   * Hands over the conversations of `dead`, if this worker wins it (another reaper may have);
   * returns how many. On a Redis error the worker goes back in the registry as long dead, so
   * the next round (here or elsewhere) tries again.
   */
  async reap(dead: string): Promise<number> {
    const { redis, keys } = this.queue;
    if ((await redis.zrem(keys.workers, dead)) !== 1) return 0;
    try {
      const shards = Array.from({ length: keys.shards }, (_, s) => s);
      const owned = await Promise.all(
        shards.map(async (s) =>
          Object.entries(await redis.hgetall(keys.owners(s)))
            .filter(([, w]) => w === dead)
            .map(([c]) => c),
        ),
      );
      // Locks first: a lease made claimable before its lock is broken would only find it busy.
      const prefix = lockValuePrefix(dead);
      await Promise.all(owned.flat().map((c) => redis.cbUnlock(keys.conversation(c).lock, prefix)));
      const handed = await Promise.all(shards.filter((s) => owned[s]!.length > 0).map((s) => redis.cbReap(keys.ready(s), keys.owners(s), dead, this.leaseMs, ...owned[s]!)));
      const n = handed.flat().length;
      this.metrics.deadWorkers.inc();
      this.metrics.takenOver.inc(n);
      this.logger[n > 0 ? 'warn' : 'info']({ worker: dead, conversations: n, deadAfterMs: this.deadAfterMs }, 'worker presumed dead (no heartbeat): its conversations handed over');
      return n;
    } catch (err) {
      await redis.zadd(keys.workers, 0, dead).catch(() => undefined);
      throw err;
    }
  }
}
