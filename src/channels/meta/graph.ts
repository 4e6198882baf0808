/**
 * The Graph API as a send API: Messenger, Instagram and WhatsApp all POST JSON to
 * `{GRAPH_API_URL}/…` and answer errors as `{"error":{"code","error_subcode","message",
 * "fbtrace_id"}}`. Which codes are worth a retry is decided here, once for the three.
 */
import { SendError } from '../channel';
import { HttpJsonClient, NEVER_SENT, withRetries, type Failure, type RetryOptions } from '../http-client';

/**
 * Graph error codes worth retrying: 1200 temporary send failure, 2 service, 4 app rate limit,
 * 613 calls rate limit; WhatsApp (Cloud API error codes reference,
 * developers.facebook.com/documentation/business-messaging/whatsapp/support/error-codes):
 * 80007 account rate limit, 130429 throughput, 131000 "something went wrong", 131016 service
 * unavailable, 131056 pair rate limit (too many messages to one user in a short time: "wait and
 * retry"), 133004 server temporarily unavailable.
 */
export const RETRYABLE_CODES: ReadonlySet<number> = new Set([1200, 2, 4, 613, 80007, 130429, 131000, 131016, 131056, 133004]);
/**
 * Codes that never succeed on retry: 100 bad parameter, 190 bad token, 10/200/230 permission,
 * 551 user unavailable; WhatsApp: 131008 missing / 131009 invalid parameter, 131026
 * undeliverable, 131047 outside the 24-hour window (only a template may be sent), 131051
 * unsupported message type, 368 blocked for policy violations.
 */
export const PERMANENT_CODES: ReadonlySet<number> = new Set([100, 190, 10, 551, 200, 230, 131008, 131009, 131026, 131047, 131051, 368]);

export interface GraphTarget {
  channel: string;
  account: string;
  user: string;
}

/** Turns a failed exchange into a SendError the reply ledger can act on. */
export function classifyGraph(f: Failure, attempts: number, t: GraphTarget): SendError {
  const ctx = { channel: t.channel, account: t.account, user: t.user, attempts };
  if ('status' in f) {
    const { status } = f;
    let body: { error?: { code?: number; error_subcode?: number; message?: string; fbtrace_id?: string } } | undefined;
    try {
      body = JSON.parse(f.body);
    } catch {
      body = undefined;
    }
    const g = body?.error;
    if (g && typeof g.code === 'number') {
      const retryable = RETRYABLE_CODES.has(g.code) || (!PERMANENT_CODES.has(g.code) && status >= 500);
      return new SendError(`Graph error ${g.code}: ${g.message ?? 'no message'}`, {
        ...ctx,
        code: String(g.code),
        status,
        retryable,
        notSent: true,
        detail: { ...(g.error_subcode !== undefined ? { subcode: g.error_subcode } : {}), ...(g.fbtrace_id !== undefined ? { fbtraceId: g.fbtrace_id } : {}) },
      });
    }
    // An HTTP error without a Graph body (a proxy's 502): the request may or may not have been handled.
    return new SendError(`Graph API answered HTTP ${status}`, { ...ctx, code: `http_${status}`, status, retryable: status >= 500 || status === 429, notSent: status < 500 });
  }
  const timeout = f.code === 'timeout';
  const neverSent = NEVER_SENT.has(f.code);
  return new SendError(`Graph API ${timeout ? 'timed out' : neverSent ? 'unreachable' : 'connection lost'}: ${f.message}`, {
    ...ctx,
    code: timeout ? 'timeout' : 'network',
    retryable: true,
    uncertain: !neverSent,
    notSent: neverSent,
  });
}

export interface GraphOptions extends RetryOptions {
  baseUrl: string;
  timeoutMs: number;
}

/** POSTs to the Graph API with a token, retrying what is worth retrying. */
export class GraphClient {
  private readonly http: HttpJsonClient;
  private readonly urls = new Map<string, URL>();

  constructor(readonly opts: GraphOptions) {
    this.http = new HttpJsonClient(opts.baseUrl);
  }

  private url(path: string, token: string, inQuery: boolean): URL {
    const k = `${path}\u0000${inQuery ? token : ''}`;
    let url = this.urls.get(k);
    if (!url) {
      url = new URL(`${this.http.base}${path}${inQuery ? `?access_token=${encodeURIComponent(token)}` : ''}`);
      if (this.urls.size > 10_000) this.urls.clear();
      this.urls.set(k, url);
    }
    return url;
  }

  /**
   * One call with retries. `token` goes in the query (`access_token`, as the Messenger docs
   * show) or as a bearer header (WhatsApp's docs); `once` makes a single short attempt
   * (sender actions: cosmetic, never worth a delay).
   */
  async post(path: string, token: string | undefined, body: unknown, t: GraphTarget, o: { bearer?: boolean; once?: boolean } = {}): Promise<{ body: unknown; attempts: number }> {
    if (!token) throw new SendError(`no access token for ${t.channel} account ${t.account}`, { ...t, code: 'no_token', retryable: false, notSent: true, attempts: 0 });
    const url = this.url(path, token, !o.bearer);
    const headers: Record<string, string> = o.bearer ? { authorization: `Bearer ${token}` } : {};
    const raw = JSON.stringify(body);
    if (o.once) {
      try {
        return { body: (await this.http.post(url, raw, headers, Math.min(this.opts.timeoutMs, 2_000))).body, attempts: 1 };
      } catch (err) {
        throw classifyGraph(err as Failure, 1, t);
      }
    }
    let attempts = 0;
    const answer = await withRetries(
      this.opts,
      (n) => {
        attempts = n;
        return this.http.post(url, raw, headers, this.opts.timeoutMs);
      },
      (err, n) => classifyGraph(err as Failure, n, t),
    );
    return { body: answer.body, attempts };
  }

  /** One GET with the token in the query (profile look-ups: one short attempt, never worth retrying). */
  async get(path: string, token: string | undefined, query: Record<string, string>, t: GraphTarget): Promise<unknown> {
    if (!token) throw new SendError(`no access token for ${t.channel} account ${t.account}`, { ...t, code: 'no_token', retryable: false, notSent: true, attempts: 0 });
    const url = new URL(`${this.http.base}${path}`);
    for (const [k, v] of Object.entries({ ...query, access_token: token })) url.searchParams.set(k, v);
    try {
      return (await this.http.get(url, {}, Math.min(this.opts.timeoutMs, 3_000))).body;
    } catch (err) {
      throw classifyGraph(err as Failure, 1, t);
    }
  }

  close(): void {
    this.http.close();
  }
}
