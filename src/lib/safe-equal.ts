/**
 * Constant-time string comparison for secrets (tokens, verify tokens). Both sides are
 * hashed first so that neither the content nor the length of the secret leaks by timing.
 * A leaf module: the gateway and the admin API both use it, and neither imports the other.
 */
import crypto from 'node:crypto';

export function safeEqual(a: string, b: string): boolean {
  const ha = crypto.createHash('sha256').update(a).digest();
  const hb = crypto.createHash('sha256').update(b).digest();
  return crypto.timingSafeEqual(ha, hb);
}
