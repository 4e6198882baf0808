/**
 * Who may use the admin app: the ADMIN_TOKEN holder (admin of every account) and the users
 * of ADMIN_USERS_FILE, each with a role and the accounts they may see (`<channel>:<id>`, e.g.
 * `whatsapp:1234`; the older `pages` list names Messenger pages). Passwords are stored as
 * scrypt hashes (`npm run admin-user -- --hash`), compared in constant time. The file is
 * watched: a valid new version takes effect within USERS_CHECK_MS on every gateway, and the
 * sessions of users whose entry changed or vanished end (session.ts compares a stamp).
 */
import crypto from 'node:crypto';
import { jsonSection } from '../config-reader';
import { WatchedFile } from '../lib/watched-file';
import type { Logger } from '../log';
import type { Metrics } from '../metrics';

export type Role = 'admin' | 'agent' | 'viewer';
export const ROLES: readonly Role[] = ['admin', 'agent', 'viewer'];

export interface AdminUser {
  name: string;
  role: Role;
  /** Account keys (`<channel>:<id>`), or undefined for every account (`["*"]`). */
  accounts?: readonly string[];
  passwordHash: string;
}

/** Who is making a request, after authentication. */
export interface Principal {
  name: string;
  role: Role;
  /** Account keys (`<channel>:<id>`) this principal may see; undefined: every account. */
  accounts?: readonly string[];
}

const SCRYPT = { N: 16384, r: 8, p: 1, keylen: 32 };

export function hashPassword(password: string, salt = crypto.randomBytes(16)): string {
  const key = crypto.scryptSync(password, salt, SCRYPT.keylen, { N: SCRYPT.N, r: SCRYPT.r, p: SCRYPT.p });
  return `scrypt$${salt.toString('base64url')}$${key.toString('base64url')}`;
}

/**
 * Checks a password against its stored hash. Asynchronous: scrypt runs on libuv's thread
 * pool, so a sign-in never holds the event loop that answers /webhook (~50 ms of CPU each).
 */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const [kind, salt, key] = stored.split('$');
  if (kind !== 'scrypt' || !salt || !key) return false;
  const want = Buffer.from(key, 'base64url');
  const got = await new Promise<Buffer>((resolve, reject) => crypto.scrypt(password, Buffer.from(salt, 'base64url'), want.length, { N: SCRYPT.N, r: SCRYPT.r, p: SCRYPT.p }, (err, k) => (err ? reject(err) : resolve(k))));
  return crypto.timingSafeEqual(got, want);
}

const ACCOUNT_KEY = /^[a-z][a-z0-9_-]{0,31}:[A-Za-z0-9_.@+=-]{1,128}$/;

/** A users-file scope: `["*"]` (every account), account keys, or (legacy `pages`) bare Messenger page ids. */
function scopeOf(list: unknown, legacy: boolean, at: string, problems: string[]): string[] | undefined {
  const field = legacy ? 'pages' : 'accounts';
  if (!Array.isArray(list) || list.length === 0 || list.some((p) => typeof p !== 'string' || !p)) {
    problems.push(`${at}.${field} must be a non-empty array of ${legacy ? 'page ids' : 'account keys such as "messenger:1234" or "whatsapp:5678"'}, or ["*"] for every account`);
    return undefined;
  }
  if (list.includes('*')) return undefined;
  const keys = (list as string[]).map((x) => (legacy && !x.includes(':') ? `messenger:${x}` : x));
  const bad = keys.filter((k) => !ACCOUNT_KEY.test(k));
  if (bad.length) problems.push(`${at}.${field} has ${bad.map((b) => JSON.stringify(b)).join(', ')}: an account is named <channel>:<id>, e.g. "messenger:1234"`);
  return keys;
}

/** ADMIN_USERS_FILE: {"users":[{"name":"ann","role":"agent","accounts":["messenger:123"],"passwordHash":"scrypt$…"}]} */
export function parseUsersFile(text: string, where: string): { users?: Map<string, AdminUser>; problems: string[] } {
  const section = jsonSection(text, where, 'users');
  if ('problem' in section) return { problems: [section.problem] };
  const list = section.value;
  if (!Array.isArray(list) || list.length === 0) return { problems: [`${where} must be an object with a non-empty "users" array`] };
  const problems: string[] = [];
  const users = new Map<string, AdminUser>();
  list.forEach((u: Record<string, unknown>, i) => {
    const at = `${where} users[${i}]`;
    const name = typeof u?.name === 'string' ? u.name : '';
    if (!/^[A-Za-z0-9_.@-]{1,64}$/.test(name)) problems.push(`${at}.name must be 1-64 letters, digits, _ . @ or -`);
    if (users.has(name)) problems.push(`${at}.name ${name} is listed twice`);
    if (!ROLES.includes(u?.role as Role)) problems.push(`${at}.role must be one of ${ROLES.join(', ')}`);
    if (u?.accounts !== undefined && u?.pages !== undefined) problems.push(`${at} has both "accounts" and "pages": use "accounts"`);
    const accounts = scopeOf(u?.accounts ?? u?.pages, u?.accounts === undefined, at, problems);
    if (typeof u?.passwordHash !== 'string' || !/^scrypt\$[\w-]+\$[\w-]+$/.test(u.passwordHash)) problems.push(`${at}.passwordHash must be a scrypt hash (make one with: npm run admin-user -- --hash)`);
    users.set(name, { name, role: u?.role as Role, ...(accounts ? { accounts } : {}), passwordHash: String(u?.passwordHash) });
  });
  return problems.length ? { problems } : { users, problems };
}

export const canSee = (p: Principal, channel: string, account: string): boolean => !p.accounts || p.accounts.includes(`${channel}:${account}`);
export const canAct = (p: Principal) => p.role === 'admin' || p.role === 'agent';

/** How often gateways look at ADMIN_USERS_FILE (a stat; the file is read only when it changed). */
export const USERS_CHECK_MS = 2_000;

/** A stamp of everything that grants rights in a user's entry: a session is valid while it matches. */
export function userStamp(u: AdminUser): string {
  return crypto
    .createHash('sha256')
    .update(JSON.stringify(['user', u.name, u.role, u.accounts ?? '*', u.passwordHash]))
    .digest('base64url');
}

/** ADMIN_USERS_FILE, applied again whenever it changes; a broken version is refused loudly. */
export function watchUsersFile(file: string, initial: Map<string, AdminUser>, logger: Logger, metrics: Metrics): WatchedFile<Map<string, AdminUser>> {
  let previous = initial;
  return new WatchedFile({
    file,
    initial,
    everyMs: USERS_CHECK_MS,
    parse: (text, where) => {
      const parsed = parseUsersFile(text, `ADMIN_USERS_FILE ${where}`);
      return { problems: parsed.problems, ...(parsed.users ? { value: parsed.users } : {}) };
    },
    onChange: (users, firstRead) => {
      const changed = [...previous.values()].filter((u) => users.get(u.name) === undefined || userStamp(users.get(u.name)!) !== userStamp(u)).map((u) => u.name);
      previous = users;
      if (firstRead && changed.length === 0) return; // the version the config read at start
      metrics.usersReloads.inc({ result: 'ok' });
      logger.warn({ file, users: users.size, changedOrRemoved: changed }, 'ADMIN_USERS_FILE changed: the new version is in force; sessions of changed or removed users end');
    },
    onInvalid: (problems) => {
      metrics.usersReloads.inc({ result: 'invalid' });
      logger.error({ file, problems }, `ADMIN_USERS_FILE changed but is INVALID: the previous version stays in force until it is fixed:\n  - ${problems.join('\n  - ')}`);
    },
  });
}
