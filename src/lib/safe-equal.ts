/** Constant-time comparison of two secrets of any length (hashing first evens out the lengths). */
import crypto from 'node:crypto';

export function safeEqual(a: string, b: string): boolean {
  const ha = crypto.createHash('sha256').update(a).digest();
  const hb = crypto.createHash('sha256').update(b).digest();
  return crypto.timingSafeEqual(ha, hb);
}
