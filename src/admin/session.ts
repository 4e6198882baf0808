/**
 * Sign-in and sessions. A session is a random bearer token kept in Redis (hashed) with a
 * TTL; the browser app holds it in sessionStorage and sends it in the Authorization header —
 * no cookies, so no request can ride on a session without the page's own script (no CSRF).
 * Failed sign-ins are counted per client address and account in Redis (so across gateway replicas) and
 * refused for a while after too many.
 */
import crypto from 'node:crypto';
import { Semaphore } from '../lib/semaphore';
import type { Metrics } from '../metrics';
import type { RedisClient } from '../queue/redis';
import { safeEqual } from '../lib/safe-equal';
import { verifyPassword, type AdminUser, type Principal } from './users';

export const SESSION_TTL_MS = 12 * 3_600_000;
const MAX_FAILURES = 5;
const FAILURE_WINDOW_MS = 60_000;
/**
 * Password checks at once in one process: scrypt takes ~50 ms of a core and 16 MiB each and
 * runs on libuv's pool of 4 threads, which fs and dns share; two leave room for them and
 * for the event loop on a 2-core pod. Beyond WAITING in line, a sign-in is refused (503).
 */
const CHECKS_AT_ONCE = 2;
const CHECKS_WAITING = 16;
/** Any password of the same cost: an unknown user is checked against it, so timing tells nothing. */
const DUMMY_HASH = 'scrypt$c2FsdHNhbHRzYWx0c2FsdA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';

export class SignInError extends Error {
  constructor(readonly status: 401 | 429 | 503, message: string, readonly retryAfterS?: number) {
    super(message);
  }
}

const sha = (s: string) => crypto.createHash('sha256').update(s).digest('hex');

export class Sessions {
  private readonly checks = new Semaphore(CHECKS_AT_ONCE, CHECKS_WAITING);

  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
    private readonly adminToken: string | undefined,
    private readonly users: ReadonlyMap<string, AdminUser> | undefined,
    private readonly metrics?: Metrics,
  ) {}

  private key(token: string): string {
    return `${this.prefix}:{admin}:session:${sha(token)}`;
  }

  private failKey(client: string): string {
    return `${this.prefix}:{admin}:signin-fail:${sha(client)}`;
  }

  /** Checks a password (or the admin token) and opens a session. */
  async signIn(client: string, creds: { token?: unknown; user?: unknown; password?: unknown }): Promise<{ token: string; principal: Principal }> {
    // Counted per address and account: guessing one user's password does not lock out
    // everyone else behind the same address (an office NAT).
    const fk = this.failKey(`${client}|${typeof creds.user === 'string' ? creds.user : typeof creds.token === 'string' ? 'token' : ''}`);
    const failures = Number(await this.redis.get(fk)) || 0;
    if (failures >= MAX_FAILURES) {
      const ttl = await this.redis.pttl(fk);
      throw new SignInError(429, 'too many failed sign-ins: try again later', Math.max(1, Math.ceil(ttl / 1000)));
    }
    let principal: Principal | undefined;
    if (typeof creds.token === 'string' && this.adminToken && safeEqual(creds.token, this.adminToken)) principal = { name: 'admin', role: 'admin' };
    else if (typeof creds.user === 'string' && typeof creds.password === 'string') {
      const u = this.users?.get(creds.user);
      // A missing user costs the same scrypt as a wrong password: no user enumeration by timing.
      const ok = await this.checkPassword(creds.password, u?.passwordHash ?? DUMMY_HASH);
      if (u && ok) principal = { name: u.name, role: u.role, ...(u.pages ? { pages: u.pages } : {}) };
    }
    if (!principal) {
      await this.redis.multi().incr(fk).pexpire(fk, FAILURE_WINDOW_MS).exec();
      throw new SignInError(401, 'wrong token, user or password');
    }
    await this.redis.del(fk);
    const token = crypto.randomBytes(24).toString('base64url');
    await this.redis.set(this.key(token), JSON.stringify(principal), 'PX', SESSION_TTL_MS);
    return { token, principal };
  }

  /** scrypt off the event loop, a bounded number at once; a full line is a 503, not a longer queue. */
  private async checkPassword(password: string, hash: string): Promise<boolean> {
    const gauge = this.metrics?.passwordChecks;
    gauge?.inc({ state: 'waiting' });
    const release = await this.checks.acquire();
    gauge?.dec({ state: 'waiting' });
    if (!release) throw new SignInError(503, 'too many sign-ins at once: retry in a second', 1);
    gauge?.inc({ state: 'running' });
    try {
      return await verifyPassword(password, hash);
    } finally {
      gauge?.dec({ state: 'running' });
      release();
    }
  }

  /** The principal of a bearer token: the admin token itself (for scripts) or a session. */
  async principal(token: string): Promise<Principal | undefined> {
    if (this.adminToken && safeEqual(token, this.adminToken)) return { name: 'admin', role: 'admin' };
    const raw = await this.redis.get(this.key(token));
    if (!raw) return undefined;
    try {
      return JSON.parse(raw) as Principal;
    } catch {
      return undefined;
    }
  }

  async signOut(token: string): Promise<void> {
    await this.redis.del(this.key(token));
  }
}
