/**
 * Sign-in and sessions. A session is a random bearer token kept in Redis (hashed) with a
 * TTL; the browser app holds it in sessionStorage and sends it in the Authorization header —
 * no cookies, so no request can ride on a session without the page's own script (no CSRF).
 * Every guess of a credential (password, ADMIN_TOKEN, bearer token) goes through the limits
 * of limits.ts; password checks run off the event loop, a bounded number at once.
 */
import crypto from 'node:crypto';
import { safeEqual } from '../lib/safe-equal';
import { Semaphore } from '../lib/semaphore';
import type { Metrics } from '../metrics';
import type { RedisClient } from '../queue/redis';
import { AuthLimits } from './limits';
import { verifyPassword, type AdminUser, type Principal } from './users';

export const SESSION_TTL_MS = 12 * 3_600_000;
/**
 * Password checks at once in one process: scrypt takes ~50 ms of a core and 16 MiB each and
 * runs on libuv's pool of 4 threads, which fs and dns share; two leave room for them and
 * for the event loop on a 2-core pod. Beyond WAITING in line, a sign-in is refused (503).
 */
const CHECKS_AT_ONCE = 2;
const CHECKS_WAITING = 16;
/** Any password of the same cost: an unknown user is checked against it, so timing tells nothing. */
const DUMMY_HASH = 'scrypt$c2FsdHNhbHRzYWx0c2FsdA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';
const ADMIN: Principal = { name: 'admin', role: 'admin' };

const STATUS = { invalid: 400, wrong: 401, throttled: 429, limited: 429, busy: 503 } as const;

/** Why a sign-in was refused: bad request, wrong credentials, account slowed down, address limited, server busy. */
export class SignInError extends Error {
  readonly status: (typeof STATUS)[keyof typeof STATUS];
  constructor(readonly reason: keyof typeof STATUS, message: string, readonly retryAfterS?: number) {
    super(message);
    this.status = STATUS[reason];
  }
}

/** A bearer token's verdict: who it is, or why not (with the status to answer). */
export type Authentication = { principal: Principal } | { status: 401 | 429; error: string; retryAfterS?: number };

const sha = (s: string) => crypto.createHash('sha256').update(s).digest('hex');
const limitedError = (what: string, s: number) => `too many failed ${what} from your address: retry in ${s} s`;

export class Sessions {
  private readonly checks = new Semaphore(CHECKS_AT_ONCE, CHECKS_WAITING);
  private readonly limits: AuthLimits;

  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
    private readonly adminToken: string | undefined,
    private readonly users: ReadonlyMap<string, AdminUser> | undefined,
    private readonly metrics?: Metrics,
  ) {
    this.limits = new AuthLimits(redis, prefix);
  }

  private key(token: string): string {
    return `${this.prefix}:{admin}:session:${sha(token)}`;
  }

  /** Checks a password (or the admin token) from `address` and opens a session. */
  async signIn(address: string, creds: { token?: unknown; user?: unknown; password?: unknown }): Promise<{ token: string; principal: Principal }> {
    try {
      const principal = await this.check(address, creds);
      const token = crypto.randomBytes(24).toString('base64url');
      await this.redis.set(this.key(token), JSON.stringify(principal), 'PX', SESSION_TTL_MS);
      this.metrics?.signIns.inc({ result: 'ok' });
      return { token, principal };
    } catch (err) {
      if (err instanceof SignInError) this.metrics?.signIns.inc({ result: err.reason });
      throw err;
    }
  }

  private async check(address: string, creds: { token?: unknown; user?: unknown; password?: unknown }): Promise<Principal> {
    // What is checked decides what is counted: a token guess is a token guess whatever "user" it carries.
    const token = typeof creds.token === 'string' ? creds.token : undefined;
    const user = token === undefined && typeof creds.user === 'string' && typeof creds.password === 'string' ? { name: creds.user, password: creds.password } : undefined;
    if (token === undefined && !user) throw new SignInError('invalid', 'send {"user": "…", "password": "…"} or {"token": "…"}');
    const a = await this.limits.takeAddress(address);
    if (!a.ok) throw new SignInError('limited', limitedError('sign-ins', a.retryAfterS), a.retryAfterS);
    let principal: Principal | undefined;
    try {
      principal = user ? await this.checkPassword(user.name, user.password) : await this.checkToken(token!);
    } catch (err) {
      if (err instanceof SignInError && err.reason === 'busy') await this.limits.giveBackAddress(address); // refused unchecked
      throw err;
    }
    if (!principal) throw new SignInError('wrong', 'wrong token, user or password');
    await Promise.all([this.limits.giveBackAddress(address), this.limits.giveBackAccount(user ? `user:${user.name}` : 'token')]);
    return principal;
  }

  private async takeAccount(account: string): Promise<void> {
    const v = await this.limits.takeAccount(account);
    if (!v.ok) throw new SignInError('throttled', `this account is slowed down after failed sign-ins: retry in ${v.retryAfterS} s`, v.retryAfterS);
  }

  private async checkToken(token: string): Promise<Principal | undefined> {
    await this.takeAccount('token');
    return this.adminToken && safeEqual(token, this.adminToken) ? ADMIN : undefined;
  }

  /**
   * scrypt off the event loop, a bounded number at once; a full line is a 503, not a longer
   * queue. The account's throttle comes first: a burst at one account is refused there and
   * takes no place in the line that everyone's sign-in shares.
   */
  private async checkPassword(name: string, password: string): Promise<Principal | undefined> {
    await this.takeAccount(`user:${name}`);
    const gauge = this.metrics?.passwordChecks;
    gauge?.inc({ state: 'waiting' });
    const release = await this.checks.acquire();
    gauge?.dec({ state: 'waiting' });
    if (!release) throw new SignInError('busy', 'too many sign-ins at once: retry in a second', 1);
    gauge?.inc({ state: 'running' });
    try {
      const u = this.users?.get(name);
      // A missing user costs the same scrypt as a wrong password: no user enumeration by timing.
      const ok = await verifyPassword(password, u?.passwordHash ?? DUMMY_HASH);
      return u && ok ? { name: u.name, role: u.role, ...(u.pages ? { pages: u.pages } : {}) } : undefined;
    } finally {
      gauge?.dec({ state: 'running' });
      release();
    }
  }

  /**
   * The principal of a bearer token from `address`: the admin token itself (for scripts) or
   * a session. Anything else is a guess and counts against the address.
   */
  async authenticate(token: string, address: string): Promise<Authentication> {
    if (this.adminToken && safeEqual(token, this.adminToken)) {
      // A right guess is not told apart from a wrong one while the address is limited.
      const v = await this.limits.addressLimited(address);
      return v.ok ? { principal: ADMIN } : { status: 429, error: limitedError('authentications', v.retryAfterS), retryAfterS: v.retryAfterS };
    }
    // A session is 192 random bits, not guessable: a live one passes even from a limited address.
    const principal = await this.session(token);
    if (principal) return { principal };
    const v = await this.limits.takeAddress(address);
    if (!v.ok) return { status: 429, error: limitedError('authentications', v.retryAfterS), retryAfterS: v.retryAfterS };
    return { status: 401, error: 'authentication required: Authorization: Bearer <token> (ADMIN_TOKEN or a sign-in session)' };
  }

  private async session(token: string): Promise<Principal | undefined> {
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
