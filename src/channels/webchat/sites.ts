/**
 * Web chat sites (the accounts of the `webchat` channel): their CHANNELS_FILE entries, checked
 * with every problem named, and the origins a site's widget may run on.
 *
 * An origin pattern is what a CSP source expression for a host is, restricted to whole
 * origins, so the browser (the frame's `frame-ancestors`) and the server (the WebSocket's
 * Origin and the embedding page the frame reports) apply the same rule:
 * - `https://shop.example` — exactly that origin (scheme, host, port; 443/80 are the defaults);
 * - `https://shop.example:*` — that scheme and host, any port (`http://localhost:*` for dev);
 * - `https://*.shop.example` — any subdomain of shop.example (one or more labels), not
 *   shop.example itself; combinable with `:*`.
 * No paths, no bare `*`: a site names where it runs.
 */
import type { ChannelEntry } from '../../config-channels';

export interface OriginPattern {
  /** As written in CHANNELS_FILE (also the CSP source expression). */
  readonly raw: string;
  readonly scheme: 'http' | 'https';
  /** Lower-case host; for a subdomain pattern, the domain after `*.`. */
  readonly host: string;
  readonly subdomains: boolean;
  /** A port, or '*' for any. */
  readonly port: number | '*';
}

export interface WebchatSite {
  readonly id: string;
  readonly name?: string;
  readonly origins: readonly OriginPattern[];
  /** HMAC-SHA256 key of the site's user ids (identity verification); without it every visitor is anonymous. */
  readonly identitySecret?: string;
  /** Where "you have a new reply" goes when a visitor is away, signed with `secret`. */
  readonly notify?: { readonly url: string; readonly secret: string };
}

const FIELDS = new Set(['type', 'id', 'name', 'origins', 'identitySecret', 'notifyUrl', 'notifySecret']);
const PATTERN = /^(https?):\/\/(\*\.)?([a-z0-9-]+(?:\.[a-z0-9-]+)*|\[[0-9a-f:.]+\])(?::(\d{1,5}|\*))?$/;
const DEFAULT_PORT = { http: 80, https: 443 } as const;
const MIN_SECRET = 16;

/** The pattern `s` describes, or undefined when it is not one. */
export function parseOriginPattern(s: string): OriginPattern | undefined {
  const m = PATTERN.exec(s);
  if (!m || s !== s.toLowerCase()) return undefined;
  const scheme = m[1] as 'http' | 'https';
  const port = m[4] === undefined ? DEFAULT_PORT[scheme] : m[4] === '*' ? '*' : Number(m[4]);
  if (port !== '*' && (port < 1 || port > 65535)) return undefined;
  return { raw: s, scheme, host: m[3]!, subdomains: m[2] !== undefined, port };
}

/** True when `origin` (as a browser sends it: `scheme://host[:port]`) matches one of `patterns`. */
export function originAllowed(origin: string | undefined, patterns: readonly OriginPattern[]): boolean {
  if (!origin) return false;
  let u: URL;
  try {
    u = new URL(origin);
  } catch {
    return false;
  }
  const scheme = u.protocol.slice(0, -1);
  if ((scheme !== 'http' && scheme !== 'https') || u.origin !== origin.toLowerCase()) return false;
  const host = u.hostname;
  const port = u.port === '' ? DEFAULT_PORT[scheme] : Number(u.port);
  return patterns.some((p) => p.scheme === scheme && (p.port === '*' || p.port === port) && (p.subdomains ? host.endsWith(`.${p.host}`) : host === p.host));
}

/** The problems of one `{"type":"webchat",…}` entry (every one of them), or none. */
export function checkWebchatEntry(e: ChannelEntry): string[] {
  const problems: string[] = [];
  const f = e.fields;
  const unknown = Object.keys(f).filter((k) => !FIELDS.has(k));
  if (unknown.length) problems.push(`${e.where} has ${unknown.map((k) => JSON.stringify(k)).join(', ')}: a webchat entry takes only ${[...FIELDS].filter((k) => k !== 'type' && k !== 'id').join(', ')}`);
  const origins = f.origins;
  if (!Array.isArray(origins) || origins.length === 0 || origins.length > 50) {
    problems.push(`${e.where}.origins must be an array of 1 to 50 origins the widget may run on, such as "https://shop.example" or "http://localhost:*"`);
  } else {
    origins.forEach((o: unknown, i) => {
      if (typeof o !== 'string' || !parseOriginPattern(o)) {
        problems.push(`${e.where}.origins[${i}] ${JSON.stringify(o)} is not an origin: write scheme://host[:port] in lower case, without a path (a port may be *, a host may start with *. for its subdomains)`);
      }
    });
  }
  if (f.identitySecret !== undefined && (typeof f.identitySecret !== 'string' || f.identitySecret.length < MIN_SECRET)) {
    problems.push(`${e.where}.identitySecret must be a string of at least ${MIN_SECRET} characters (the key the site signs its user ids with)`);
  }
  if (f.notifyUrl !== undefined && (typeof f.notifyUrl !== 'string' || !/^https?:\/\/[^\s]+$/.test(f.notifyUrl))) problems.push(`${e.where}.notifyUrl must be an http(s) URL`);
  if (f.notifyUrl !== undefined && (typeof f.notifySecret !== 'string' || f.notifySecret.length < MIN_SECRET)) {
    problems.push(`${e.where}.notifySecret must be a string of at least ${MIN_SECRET} characters when notifyUrl is set (notifications are signed with it)`);
  }
  if (f.notifySecret !== undefined && f.notifyUrl === undefined) problems.push(`${e.where}.notifySecret is set but notifyUrl is not: set both or neither`);
  return problems;
}

/** A checked entry as a site (call `checkWebchatEntry` first). */
export function siteOf(e: ChannelEntry): WebchatSite {
  const f = e.fields;
  return {
    id: e.id,
    ...(e.name ? { name: e.name } : {}),
    origins: (f.origins as string[]).map((o) => parseOriginPattern(o)!),
    ...(typeof f.identitySecret === 'string' ? { identitySecret: f.identitySecret } : {}),
    ...(typeof f.notifyUrl === 'string' ? { notify: { url: f.notifyUrl, secret: String(f.notifySecret) } } : {}),
  };
}

/** Dev mode's site (`npm start` without CHANNELS_FILE): a page on this machine, any port, can embed it. */
export const DEV_SITE: WebchatSite = {
  id: 'dev-site',
  name: 'Dev site',
  origins: ['http://localhost:*', 'http://127.0.0.1:*'].map((o) => parseOriginPattern(o)!),
};
