/**
 * The conversation lock, and the only module that imports redlock.
 *
 * The lock is a plain Redis string, `…:{conversation}:lock`, holding `<worker id>/<random>`
 * with a PX TTL (LOCK_TTL_MS). Several parts rely on that shape, and a replacement must keep it:
 * - next-6.lua takes it (SET NX PX) in the call that peeks a conversation's first event
 *   (claim-peek-n.lua, on one server, in the call that claims it), and releases it
 *   (compare-and-DEL) in the ack that finds the queue empty (finish-n.lua on one server);
 * - next-6.lua and reply-2.lua fence acks and sends with it (GET == the caller's value);
 * - this module extends it (compare-and-PEXPIRE, every third of the TTL) and releases it;
 * - the reaper (src/queue/liveness.ts) breaks it (compare-prefix-and-DEL) when the worker
 *   named before the '/' has stopped beating: a killed worker's conversations resume in
 *   about WORKER_DEAD_AFTER_MS instead of the lock TTL.
 *
 * Why redlock is isolated here rather than used through its public API alone: its `acquire`
 * is a round trip of its own on every visit of a conversation, which next-6 saves (the
 * capacity model counts about 10 round trips a message; docs/capacity.md), and its quorum
 * over independent masters cannot apply: the fencing scripts must read the lock in the
 * conversation's own slot, so exactly one Redis ever votes. What redlock does for us is
 * extension and release through its public `Lock.extend`/`Lock.release`, on a `Lock` built
 * here for the value next-6 set (its exported constructor, with no acquisition attempts).
 * Nothing else imports redlock: app.ts and the worker see `ConversationLocks` and
 * `ConversationLock`. A maintained fork with the same `Lock` API replaces it by changing the
 * import below; dropping it would mean two short scripts (compare-and-PEXPIRE,
 * compare-and-DEL) in this file.
 */
import crypto from 'node:crypto';
import os from 'node:os';
import Redlock, { Lock } from 'redlock';
import type { Logger } from '../log';
import type { Metrics } from '../metrics';
import { lockValuePrefix } from '../queue/keys';
import type { RedisClient } from '../queue/redis';

/** hostname (the pod's name on Kubernetes), pid, and random bytes: never the id of a worker that ran before. */
export const newWorkerId = (): string => `${os.hostname()}-${process.pid}-${crypto.randomBytes(3).toString('hex')}`;

/** Makes the locks of one worker: their values carry its id, so the reaper can find them if it dies. */
export class ConversationLocks {
  private readonly redlock: Redlock;

  constructor(
    redis: RedisClient,
    readonly ttlMs: number,
    private readonly logger: Logger,
    private readonly metrics: Pick<Metrics, 'lockLost'>,
    readonly worker: string = newWorkerId(),
  ) {
    this.redlock = new Redlock([redis], { retryCount: 0 });
    this.redlock.on('error', () => undefined); // every failure is handled where it happens
  }

  /** Random bytes of this process and a round counter: lock values unique per visit without drawing random bytes each polling round. */
  private readonly secret = crypto.randomBytes(12).toString('hex');
  private rounds = 0;

  /**
   * A prefix for the lock values of one polling round of claim-peek-n, which takes the locks
   * itself and appends ':<n>' for each: unique per visit, known only to this worker.
   */
  roundPrefix(): string {
    return `${lockValuePrefix(this.worker)}${this.secret}.${(this.rounds++).toString(36)}`;
  }

  /**
   * A lock on `key` with a fresh value, for the caller to take with next-6 (`acquireMs` =
   * `ttlMs`) right after `startedAt` — or with `value`, the one claim-peek-n took it with. It is extended from then on until it is released or
   * forgotten; the expiry accounts for clock drift the way redlock's own acquire does.
   */
  adopt(key: string, conversation: string, startedAt = Date.now(), value = `${lockValuePrefix(this.worker)}${crypto.randomBytes(16).toString('hex')}`): ConversationLock {
    const drift = Math.round(this.redlock.settings.driftFactor * this.ttlMs) + 2;
    const lock = new Lock(this.redlock, [key], value, [], startedAt + this.ttlMs - drift);
    return new ConversationLock(lock, this.ttlMs, this.logger, this.metrics, conversation);
  }
}

/** One held conversation lock. Made by `ConversationLocks.adopt`. */
export class ConversationLock {
  private timer?: NodeJS.Timeout;
  private current: Lock;
  lost = false;
  private released = false;

  constructor(
    lock: Lock,
    private readonly ttlMs: number,
    private readonly logger: Logger,
    private readonly metrics: Pick<Metrics, 'lockLost'>,
    private readonly conversation: string,
  ) {
    this.current = lock;
    this.schedule();
  }

  get value(): string {
    return this.current.value;
  }

  /**
   * Stops extending the lock without releasing it: it is not ours to release (next-6 found
   * it busy), or a queue script released it already (next-6 found the queue empty).
   */
  forget(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.released = true;
  }

  private schedule(): void {
    // Extend at a third of the TTL: two extension attempts fit before the lock could lapse.
    this.timer = setTimeout(() => void this.extend(), Math.max(50, Math.floor(this.ttlMs / 3)));
  }

  private async extend(): Promise<void> {
    try {
      this.current = await this.current.extend(this.ttlMs);
      if (!this.lost && this.timer) this.schedule();
    } catch (err) {
      // Released or forgotten while this extension was in flight (next-6 released it in the
      // ack that emptied the queue, on the same connection, just before): nothing is lost.
      if (!this.timer) return;
      if (Date.now() < this.current.expiration - 50) {
        this.schedule(); // a passing Redis error: try again while the lock is still valid
        return;
      }
      this.lost = true;
      this.metrics.lockLost.inc();
      this.logger.warn({ conversation: this.conversation, err }, 'conversation lock could not be extended: stopping work on it');
    }
  }

  async release(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.lost || this.released) return;
    try {
      await this.current.release();
    } catch (err) {
      // It expires by itself after its TTL; the next holder waits at most that long.
      this.logger.warn({ conversation: this.conversation, err }, 'conversation lock release failed; it will expire');
    }
  }
}
