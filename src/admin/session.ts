/**
 * Sign-in and sessions. A session is a random bearer token kept in Redis (hashed) with a
 * TTL; the browser app holds it in sessionStorage and sends it in the Authorization header —
 * no cookies, so no request can ride on a session without the page's own script (no CSRF).
 * A session carries a stamp of what opened it — the user's entry in ADMIN_USERS_FILE, or
 * the ADMIN_TOKEN — compared on every request with the current ones: a user removed or
 * changed in the (watched) file, or a rotated token, ends its sessions at once.
 * Every guess of a credential (password, ADMIN_TOKEN, bearer token) goes through the limits
 * of limits.ts; password checks run off the event loop, a bounded number at once.
 */
import crypto from 'node:crypto';
import { safeEqual } from '../lib/safe-equal';
import { Semaphore } from '../lib/semaphore';
import type { Metrics } from '../metrics';
import type { RedisClient } from '../queue/redis';
import { AuthLimits } from './limits';
import { userStamp, verifyPassword, type AdminUser, type Principal } from './users';

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
  constructor(
    readonly reason: keyof typeof STATUS,
    message: string,
    readonly retryAfterS?: number,
  ) {
    super(message);
    this.status = STATUS[reason];
  }
}

/** What Redis keeps of a session: who, and the stamp of the credential that opened it. */
interface SessionRecord {
  principal: Principal;
  stamp: string;
}

/** A bearer token's verdict: who it is, or why not (with the status to answer). */
export type Authentication = { principal: Principal } | { status: 401 | 429; error: string; retryAfterS?: number };

const sha = (s: string) => crypto.createHash('sha256').update(s).digest('hex');
const limitedError = (what: string, s: number) => `too many failed ${what} from your address: retry in ${s} s`;
/** Not the token itself: a Redis reader learns nothing usable from a session record. */
const tokenStamp = (token: string) => `token:${sha(`admin-token\0${token}`)}`;
const principalOf = (u: AdminUser): Principal => ({ name: u.name, role: u.role, ...(u.accounts ? { accounts: u.accounts } : {}) });

export class Sessions {
  private readonly checks = new Semaphore(CHECKS_AT_ONCE, CHECKS_WAITING);
  private readonly limits: AuthLimits;

  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
    private readonly adminToken: string | undefined,
    /** The users in force now (ADMIN_USERS_FILE is watched), if any. */
    private readonly users: () => ReadonlyMap<string, AdminUser> | undefined,
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
      const record = await this.check(address, creds);
      const principal = record.principal;
      const token = crypto.randomBytes(24).toString('base64url');
      await this.redis.set(this.key(token), JSON.stringify(record), 'PX', SESSION_TTL_MS);
      this.metrics?.signIns.inc({ result: 'ok' });
      return { token, principal };
    } catch (err) {
      if (err instanceof SignInError) this.metrics?.signIns.inc({ result: err.reason });
      throw err;
    }
  }

  private async check(address: string, creds: { token?: unknown; user?: unknown; password?: unknown }): Promise<SessionRecord> {
    // What is checked decides what is counted: a token guess is a token guess whatever "user" it carries.
    const token = typeof creds.token === 'string' ? creds.token : undefined;
    const user = token === undefined && typeof creds.user === 'string' && typeof creds.password === 'string' ? { name: creds.user, password: creds.password } : undefined;
    if (token === undefined && !user) throw new SignInError('invalid', 'send {"user": "…", "password": "…"} or {"token": "…"}');
    const a = await this.limits.takeAddress(address);
    if (!a.ok) throw new SignInError('limited', limitedError('sign-ins', a.retryAfterS), a.retryAfterS);
    let record: SessionRecord | undefined;
    try {
      record = user ? await this.checkPassword(user.name, user.password) : await this.checkToken(token!);
    } catch (err) {
      if (err instanceof SignInError && err.reason === 'busy') await this.limits.giveBackAddress(address); // refused unchecked
      throw err;
    }
    if (!record) throw new SignInError('wrong', 'wrong token, user or password');
    await Promise.all([this.limits.giveBackAddress(address), this.limits.giveBackAccount(user ? `user:${user.name}` : 'token')]);
    return record;
  }

  private async takeAccount(account: string): Promise<void> {
    const v = await this.limits.takeAccount(account);
    if (!v.ok) throw new SignInError('throttled', `this account is slowed down after failed sign-ins: retry in ${v.retryAfterS} s`, v.retryAfterS);
  }

  private async checkToken(token: string): Promise<SessionRecord | undefined> {
    await this.takeAccount('token');
    return this.adminToken && safeEqual(token, this.adminToken) ? { principal: ADMIN, stamp: tokenStamp(this.adminToken) } : undefined;
  }

  /**
   * scrypt off the event loop, a bounded number at once; a full line is a 503, not a longer
   * queue. The account's throttle comes first: a burst at one account is refused there and
   * takes no place in the line that everyone's sign-in shares.
   */
  private async checkPassword(name: string, password: string): Promise<SessionRecord | undefined> {
    await this.takeAccount(`user:${name}`);
    const gauge = this.metrics?.passwordChecks;
    gauge?.inc({ state: 'waiting' });
    const release = await this.checks.acquire();
    gauge?.dec({ state: 'waiting' });
    if (!release) throw new SignInError('busy', 'too many sign-ins at once: retry in a second', 1);
    gauge?.inc({ state: 'running' });
    try {
      const u = this.users()?.get(name);
      // A missing user costs the same scrypt as a wrong password: no user enumeration by timing.
      const ok = await verifyPassword(password, u?.passwordHash ?? DUMMY_HASH);
      return u && ok ? { principal: principalOf(u), stamp: userStamp(u) } : undefined;
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
    const session = await this.session(token);
    if ('principal' in session) return session;
    const v = await this.limits.takeAddress(address);
    if (!v.ok) return { status: 429, error: limitedError('authentications', v.retryAfterS), retryAfterS: v.retryAfterS };
    return { status: 401, error: session.ended ?? 'authentication required: Authorization: Bearer <token> (ADMIN_TOKEN or a sign-in session)' };
  }

  /** Why the session of `token` is no longer valid, or undefined while it is (the live feed asks on each keep-alive). */
  async ended(token: string): Promise<string | undefined> {
    if (this.adminToken && safeEqual(token, this.adminToken)) return undefined;
    const s = await this.session(token);
    return 'principal' in s ? undefined : (s.ended ?? 'your session ended: sign in again');
  }

  /**
   * The session of `token`, checked against the credentials in force now. One that no longer
   * matches is refused but not deleted: gateways read a changed file a second or two apart,
   * and one still on the old version must not destroy a session just opened on the new one.
   * (Put back exactly as it was, an entry revives its sessions: they grant what it grants.)
   */
  private async session(token: string): Promise<{ principal: Principal } | { ended?: string }> {
    const raw = await this.redis.get(this.key(token));
    if (!raw) return {};
    let rec: Partial<SessionRecord> | undefined;
    try {
      rec = JSON.parse(raw) as Partial<SessionRecord>;
    } catch {
      rec = undefined;
    }
    if (!rec?.principal || typeof rec.stamp !== 'string') return { ended: 'your session was opened by an older version: sign in again' };
    if (rec.stamp.startsWith('token:')) {
      if (this.adminToken && rec.stamp === tokenStamp(this.adminToken)) return { principal: ADMIN };
      return { ended: 'your session ended: the ADMIN_TOKEN it was opened with has changed; sign in again' };
    }
    const name = rec.principal.name;
    const u = this.users()?.get(name);
    if (!u) return { ended: `your session ended: ${name} is no longer in ADMIN_USERS_FILE` };
    if (userStamp(u) !== rec.stamp) return { ended: `your session ended: the entry of ${name} in ADMIN_USERS_FILE changed (role, accounts or password); sign in again` };
    return { principal: principalOf(u) };
  }

  async signOut(token: string): Promise<void> {
    await this.redis.del(this.key(token));
  }
}
