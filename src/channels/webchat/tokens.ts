/**
 * Who a web chat visitor is. A visitor token is issued by the gateway and signed with a key
 * every gateway shares (kept in Redis, see store.ts): it names the site and the visitor, so a
 * visitor can open only their own conversation, and a token of one site is refused on
 * another. Anonymous visitors get a random id (`v-…`) and keep the token in their browser;
 * a site that signs its logged-in user's id with its `identitySecret` (HMAC-SHA256, hex, as
 * Intercom and Crisp do) gets the same visitor (`u-<user id>`) on every device.
 */
import crypto from 'node:crypto';
import { safeEqual } from '../../lib/safe-equal';

export interface Visitor {
  site: string;
  /** The conversation's user id: `v-<random>` (anonymous) or `u-<site user id>` (identified). */
  user: string;
  identified: boolean;
}

/** A site's user ids: what may follow `u-` in a conversation key. */
export const SITE_USER_ID = /^[A-Za-z0-9_.@+=-]{1,100}$/;
const VERSION = 'v1';
/** Identified visitors prove who they are again on each page load; their token lasts a day. */
export const IDENTIFIED_TTL_S = 24 * 3600;

const b64 = (s: string | Buffer) => Buffer.from(s).toString('base64url');
const mac = (key: Buffer, data: string) => crypto.createHmac('sha256', key).update(data).digest('base64url');

export class VisitorTokens {
  constructor(
    private readonly key: Buffer,
    private readonly now: () => number = Date.now,
  ) {}

  /** A new anonymous visitor of `site` and their token. */
  anonymous(site: string): { visitor: Visitor; token: string } {
    const visitor = { site, user: `v-${crypto.randomBytes(16).toString('base64url')}`, identified: false };
    return { visitor, token: this.issue(visitor) };
  }

  issue(v: Visitor): string {
    const iat = Math.floor(this.now() / 1000);
    const payload = b64(JSON.stringify({ s: v.site, u: v.user, i: iat, ...(v.identified ? { x: iat + IDENTIFIED_TTL_S } : {}) }));
    return `${VERSION}.${payload}.${mac(this.key, `${VERSION}.${payload}`)}`;
  }

  /** The visitor a token names, if it is ours, unexpired and for `site`; otherwise why not. */
  verify(token: unknown, site: string): { visitor: Visitor } | { error: string } {
    if (typeof token !== 'string' || token.length > 512) return { error: 'token must be a string' };
    const [version, payload, sig] = token.split('.');
    if (version !== VERSION || !payload || !sig || !safeEqual(sig, mac(this.key, `${version}.${payload}`))) return { error: 'token signature is not valid' };
    let claims: { s?: unknown; u?: unknown; x?: unknown };
    try {
      claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
    } catch {
      return { error: 'token payload is not valid' };
    }
    if (claims.s !== site) return { error: 'token is for another site' };
    if (typeof claims.u !== 'string' || !/^[uv]-/.test(claims.u)) return { error: 'token names no visitor' };
    if (typeof claims.x === 'number' && claims.x * 1000 < this.now()) return { error: 'token expired' };
    return { visitor: { site, user: claims.u, identified: claims.u.startsWith('u-') } };
  }
}

/** The hash a site computes for its user: hex HMAC-SHA256 of the user id with the site's identitySecret. */
export function identityHash(secret: string, userId: string): string {
  return crypto.createHmac('sha256', secret).update(userId, 'utf8').digest('hex');
}

/** The identified visitor a site vouched for, or why not. */
export function verifyIdentity(site: { id: string; identitySecret?: string }, userId: unknown, userHash: unknown): { visitor: Visitor } | { error: string } {
  if (!site.identitySecret) return { error: `site ${site.id} has no identitySecret: identified visitors are not enabled` };
  if (typeof userId !== 'string' || !SITE_USER_ID.test(userId)) return { error: 'identity.userId must be 1-100 letters, digits, _ . @ + = or -' };
  if (typeof userHash !== 'string' || !/^[0-9a-f]{64}$/i.test(userHash)) return { error: 'identity.userHash must be the 64 hex digits of HMAC-SHA256(identitySecret, userId)' };
  if (!safeEqual(userHash.toLowerCase(), identityHash(site.identitySecret, userId))) return { error: 'identity.userHash does not match userId' };
  return { visitor: { site: site.id, user: `u-${userId}`, identified: true } };
}
