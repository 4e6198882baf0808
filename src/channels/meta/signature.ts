/**
 * Facebook's webhook signatures: HMAC of the exact bytes of the POST body with the app
 * secret, sent as `X-Hub-Signature-256: sha256=<hex>` (and the legacy sha1 header).
 */
import crypto from 'node:crypto';

export type SignatureCheck = { ok: true; algorithm: 'sha256' | 'sha1' } | { ok: false; reason: string };

function safeEqualHex(expectedHex: string, givenHex: string): boolean {
  const a = Buffer.from(expectedHex, 'hex');
  const b = Buffer.from(givenHex, 'hex');
  // timingSafeEqual needs equal lengths; the length of a hex digest is public anyway.
  return a.length === b.length && b.length > 0 && crypto.timingSafeEqual(a, b);
}

/** Exactly a digest's hex digits: Buffer.from(hex) would silently drop an odd last digit. */
const FORMAT = { sha256: /^sha256=([0-9a-fA-F]{64})$/, sha1: /^sha1=([0-9a-fA-F]{40})$/ } as const;
const HEADER = { sha256: 'X-Hub-Signature-256', sha1: 'X-Hub-Signature' } as const;

export interface SignatureOptions {
  /** Accept the legacy `X-Hub-Signature` (sha1) when no sha256 header came (FB_ALLOW_SHA1); default true. */
  allowSha1?: boolean;
}

/** Checks the 256 header; the sha1 header counts only when the 256 one is absent (and sha1 is allowed). */
export function verifySignature(raw: Buffer, header256: string | undefined, header1: string | undefined, secret: string, opts: SignatureOptions = {}): SignatureCheck {
  const allowSha1 = opts.allowSha1 ?? true;
  const pick = header256 !== undefined ? { alg: 'sha256' as const, value: header256 } : header1 !== undefined && allowSha1 ? { alg: 'sha1' as const, value: header1 } : undefined;
  if (!pick) return { ok: false, reason: `missing X-Hub-Signature-256 header${header1 !== undefined ? ' (sha1 signatures are not accepted: FB_ALLOW_SHA1=false)' : ''}` };
  const m = FORMAT[pick.alg].exec(pick.value.trim());
  if (!m) return { ok: false, reason: `malformed ${HEADER[pick.alg]} header` };
  const expected = crypto.createHmac(pick.alg, secret).update(raw).digest('hex');
  return safeEqualHex(expected, m[1]!.toLowerCase()) ? { ok: true, algorithm: pick.alg } : { ok: false, reason: 'signature does not match the body' };
}

export function sign(raw: Buffer | string, secret: string, alg: 'sha256' | 'sha1' = 'sha256'): string {
  return `${alg}=${crypto.createHmac(alg, secret).update(raw).digest('hex')}`;
}

/**
 * Serialises a body the way Facebook does before signing it: non-ASCII characters and
 * `/` escaped (`\u00e9`, `\/`). Signing `JSON.stringify` output instead would not match.
 */
export function encodeLikeFacebook(body: unknown): string {
  return JSON.stringify(body)
    .replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
    .replace(/\//g, '\\/');
}
