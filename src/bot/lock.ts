/**
 * One redlock lock per conversation, extended automatically while work runs. Its value is
 * what the fenced queue scripts compare, so a worker whose lock lapsed cannot ack.
 */
import crypto from 'node:crypto';
import Redlock, { ExecutionError, Lock, ResourceLockedError } from 'redlock';
import type { Logger } from '../log';

/** A lock value as redlock makes them: random, so only its holder can extend or release it. */
export const newLockValue = (): string => crypto.randomBytes(16).toString('hex');

export class ConversationLock {
  private timer?: NodeJS.Timeout;
  private current: Lock;
  lost = false;
  private released = false;

  private constructor(lock: Lock, private readonly ttlMs: number, private readonly logger: Logger, private readonly conversation: string) {
    this.current = lock;
    this.schedule();
  }

  get value(): string {
    return this.current.value;
  }

  /** Resolves to null when another worker holds the lock; rejects on Redis errors. */
  static async acquire(redlock: Redlock, key: string, ttlMs: number, logger: Logger, conversation: string): Promise<ConversationLock | null> {
    try {
      return new ConversationLock(await redlock.acquire([key], ttlMs, { retryCount: 0 }), ttlMs, logger, conversation);
    } catch (err) {
      if (err instanceof ExecutionError) {
        const stats = await Promise.all(err.attempts);
        const held = stats.some((s) => [...s.votesAgainst.values()].some((e) => e instanceof ResourceLockedError));
        if (held) return null;
        const cause = stats.flatMap((s) => [...s.votesAgainst.values()])[0];
        throw cause ?? err;
      }
      throw err;
    }
  }

  /**
   * Takes over a lock that a queue script acquired (next-6 with `acquireMs`, value `value`)
   * at `startedAt`: from here on it is a redlock lock like any other, extended and released
   * by redlock. The expiry accounts for clock drift the way redlock's own acquire does.
   */
  static adopt(redlock: Redlock, key: string, value: string, ttlMs: number, startedAt: number, logger: Logger, conversation: string): ConversationLock {
    const drift = Math.round(redlock.settings.driftFactor * ttlMs) + 2;
    return new ConversationLock(new Lock(redlock, [key], value, [], startedAt + ttlMs - drift), ttlMs, logger, conversation);
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
      if (Date.now() < this.current.expiration - 50 && this.timer) {
        this.schedule(); // a passing Redis error: try again while the lock is still valid
        return;
      }
      this.lost = true;
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
