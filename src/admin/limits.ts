/**
 * Limits on guessing admin credentials, kept in Redis so that every gateway counts together.
 *
 * - Per client address (hard): failed sign-ins and wrong bearer tokens together, at most
 *   ADDRESS_LIMIT per window; beyond it every guess from that address is answered 429 until
 *   the window ends. The attempt is counted before it is checked (INCR first), so concurrent
 *   guesses cannot all slip past one stale count.
 * - Per account (soft): a few free attempts, then one attempt per interval that doubles up
 *   to ACCOUNT_CAP_MS. Slowing down instead of locking out: an attacker elsewhere gets a
 *   trickle of guesses, the owner gets in after a short wait (throttle-1.lua). The ADMIN_TOKEN
 *   is one account ("token"), whatever else a request carries.
 *
 * The client address is `req.ip`: behind a proxy, set TRUST_PROXY or every client shares
 * the proxy's address (and its limit).
 */
import crypto from 'node:crypto';
import type { RedisClient } from '../queue/redis';

export const ADDRESS_LIMIT = 20;
export const ADDRESS_WINDOW_MS = 10 * 60_000;
export const ACCOUNT_FREE = 5;
export const ACCOUNT_BASE_MS = 1_000;
export const ACCOUNT_CAP_MS = 30_000;
/** An account's slow-down is forgotten this long after its last attempt. */
const ACCOUNT_MEMORY_MS = 15 * 60_000;

export type Verdict = { ok: true } | { ok: false; retryAfterS: number };

const sha = (s: string) => crypto.createHash('sha256').update(s).digest('hex');
const seconds = (ms: number) => Math.max(1, Math.ceil(ms / 1000));

export class AuthLimits {
  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
  ) {}

  private addressKey(address: string): string {
    return `${this.prefix}:{admin}:auth-fail:${sha(address)}`;
  }

  /** Counts one failure-to-be for the address, then says whether it is over its limit. */
  async takeAddress(address: string): Promise<Verdict> {
    const key = this.addressKey(address);
    // SET NX starts the window (PEXPIRE NX would need Redis 7); INCR keeps its TTL.
    const res = await this.redis.multi().set(key, 0, 'PX', ADDRESS_WINDOW_MS, 'NX').incr(key).pttl(key).exec();
    const [, count, ttl] = (res ?? []).map(([err, v]) => {
      if (err) throw err;
      return Number(v);
    });
    return count! > ADDRESS_LIMIT ? { ok: false, retryAfterS: seconds(ttl!) } : { ok: true };
  }

  /** The attempt succeeded: it was not a failure after all. */
  async giveBackAddress(address: string): Promise<void> {
    await this.redis.decr(this.addressKey(address));
  }

  /** Whether the address is at its limit, counting nothing (a right ADMIN_TOKEN asks this). */
  async addressLimited(address: string): Promise<Verdict> {
    const key = this.addressKey(address);
    const [count, ttl] = await Promise.all([this.redis.get(key), this.redis.pttl(key)]);
    return Number(count) >= ADDRESS_LIMIT && ttl > 0 ? { ok: false, retryAfterS: seconds(ttl) } : { ok: true };
  }

  private throttle(account: string, op: 'take' | 'give') {
    return this.redis.cbThrottle(`${this.prefix}:{admin}:throttle:${sha(account)}`, op, ACCOUNT_FREE, ACCOUNT_BASE_MS, ACCOUNT_CAP_MS, ACCOUNT_MEMORY_MS);
  }

  /** Takes one attempt from the account's throttle (`user:<name>` or `token`). */
  async takeAccount(account: string): Promise<Verdict> {
    const reply: unknown = await this.throttle(account, 'take');
    if (!Array.isArray(reply) || reply.length !== 2) throw new Error(`throttle-1 answered ${JSON.stringify(reply)}`);
    return Number(reply[0]) === 1 ? { ok: true } : { ok: false, retryAfterS: seconds(Number(reply[1])) };
  }

  /** The attempt succeeded: the owner's own sign-ins do not slow their account down. */
  async giveBackAccount(account: string): Promise<void> {
    await this.throttle(account, 'give');
  }
}
