/**
 * Sign-in and sessions. A session is a random bearer token kept in Redis (hashed) with a
 * TTL; the browser app holds it in sessionStorage and sends it in the Authorization header —
 * no cookies, so no request can ride on a session without the page's own script (no CSRF).
 * Failed sign-ins are counted per client address and account in Redis (so across gateway replicas) and
 * refused for a while after too many.
 */
import crypto from 'node:crypto';
import type { RedisClient } from '../queue/redis';
import { safeEqual } from '../lib/safe-equal';
import { verifyPassword, type AdminUser, type Principal } from './users';

export const SESSION_TTL_MS = 12 * 3_600_000;
const MAX_FAILURES = 5;
const FAILURE_WINDOW_MS = 60_000;

export class SignInError extends Error {
  constructor(readonly status: 401 | 429, message: string, readonly retryAfterS?: number) {
    super(message);
  }
}

const sha = (s: string) => crypto.createHash('sha256').update(s).digest('hex');

export class Sessions {
  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
    private readonly adminToken: string | undefined,
    private readonly users: ReadonlyMap<string, AdminUser> | undefined,
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
      const ok = verifyPassword(creds.password, u?.passwordHash ?? 'scrypt$c2FsdHNhbHRzYWx0c2FsdA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA');
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
