/**
 * Send API client: `POST {GRAPH_API_URL}/me/messages?access_token=…` over keep-alive
 * connections, retrying transient Graph errors with exponential backoff and full jitter.
 * Plain node:http(s): one request per reply is the whole job, and axios' config merging and
 * adapters cost a third of a worker's CPU under load (see bench/OPTIMISATION.md).
 */
import http from 'node:http';
import https from 'node:https';
import type { SendRequest, SendResult } from './types';
import type { PageDirectory } from './pages';
import { PERMANENT_CODES, RETRYABLE_CODES, SendApiError } from './errors';

/** The seam the worker depends on; tests and the emulator can stand behind it. */
export interface MessengerSender {
  send(pageId: string, request: SendRequest): Promise<SendResult>;
  /** `typing_on` / `mark_seen`: one attempt, a short timeout; they are cosmetic, never worth a delay. */
  senderAction(pageId: string, userId: string, action: 'typing_on' | 'typing_off' | 'mark_seen'): Promise<void>;
}

export interface SendApiOptions {
  baseUrl: string;
  pages: Pick<PageDirectory, 'token'>;
  timeoutMs: number;
  maxAttempts: number;
  backoffBaseMs: number;
  backoffMaxMs: number;
  onRetry?: (err: SendApiError, delayMs: number) => void;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A failed exchange: an HTTP answer that is not 2xx, or a transport error (`code`: errno or 'timeout'). */
export type Failure = { status: number; body: string } | { code: string; message: string };

export function classify(f: Failure, ctx: { attempts: number; pageId: string; recipientId: string }): SendApiError {
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
      return new SendApiError(`Graph error ${g.code}: ${g.message ?? 'no message'}`, {
        code: String(g.code), status, retryable, ...ctx,
        ...(g.error_subcode !== undefined ? { subcode: g.error_subcode } : {}),
        ...(g.fbtrace_id !== undefined ? { fbtraceId: g.fbtrace_id } : {}),
      });
    }
    return new SendApiError(`Send API answered HTTP ${status}`, { code: `http_${status}`, status, retryable: status >= 500 || status === 429, ...ctx });
  }
  const timeout = f.code === 'timeout';
  // Refused or unresolvable: the request never left. Anything else (timeout, reset, hang-up)
  // may have been delivered.
  const neverSent = ['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH'].includes(f.code);
  return new SendApiError(`Send API ${timeout ? 'timed out' : neverSent ? 'unreachable' : 'connection lost'}: ${f.message}`, {
    code: timeout ? 'timeout' : 'network', retryable: true, uncertain: !neverSent, ...ctx,
  });
}

/** One POST of a JSON body; resolves with the parsed 2xx answer, rejects with a Failure. */
function postJson(transport: typeof http | typeof https, agent: http.Agent, url: URL, body: string, timeoutMs: number): Promise<unknown> {
  return new Promise((resolve, reject) => {
    let done = false;
    const fail = (f: Failure) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      reject(f);
    };
    const req = transport.request(
      { protocol: url.protocol, hostname: url.hostname, port: url.port, path: url.pathname + url.search, method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', (err: NodeJS.ErrnoException) => fail({ code: err.code ?? 'network', message: err.message }));
        res.on('end', () => {
          if (done) return;
          const text = Buffer.concat(chunks).toString('utf8');
          const status = res.statusCode ?? 0;
          if (status < 200 || status >= 300) return fail({ status, body: text });
          done = true;
          clearTimeout(timer);
          try {
            resolve(text ? JSON.parse(text) : {});
          } catch {
            resolve({});
          }
        });
      },
    );
    // The whole exchange, connection included, as axios' timeout did.
    const timer = setTimeout(() => {
      fail({ code: 'timeout', message: `no answer within ${timeoutMs} ms` });
      req.destroy();
    }, timeoutMs);
    req.on('error', (err: NodeJS.ErrnoException) => fail({ code: err.code ?? 'network', message: err.message }));
    req.end(body);
  });
}

export class GraphSendApi implements MessengerSender {
  private readonly transport: typeof http | typeof https;
  private readonly agent: http.Agent;
  private readonly base: string;

  constructor(private readonly opts: SendApiOptions) {
    const base = new URL(opts.baseUrl);
    this.transport = base.protocol === 'https:' ? https : http;
    this.agent = base.protocol === 'https:' ? new https.Agent({ keepAlive: true, maxSockets: 256 }) : new http.Agent({ keepAlive: true, maxSockets: 256 });
    this.base = opts.baseUrl.replace(/\/+$/, '');
  }

  private readonly urls = new Map<string, URL>();

  private url(token: string): URL {
    let url = this.urls.get(token);
    if (!url) this.urls.set(token, (url = new URL(`${this.base}/me/messages?access_token=${encodeURIComponent(token)}`)));
    return url;
  }

  async senderAction(pageId: string, userId: string, action: 'typing_on' | 'typing_off' | 'mark_seen'): Promise<void> {
    const token = this.opts.pages.token(pageId);
    if (!token) throw new SendApiError(`no access token for page ${pageId}`, { code: 'no_token', retryable: false, attempts: 0, pageId, recipientId: userId });
    try {
      await postJson(this.transport, this.agent, this.url(token), JSON.stringify({ recipient: { id: userId }, sender_action: action }), Math.min(this.opts.timeoutMs, 2_000));
    } catch (err) {
      throw classify(err as Failure, { attempts: 1, pageId, recipientId: userId });
    }
  }

  async send(pageId: string, request: SendRequest): Promise<SendResult> {
    const recipientId = request.recipient.id;
    const token = this.opts.pages.token(pageId);
    if (!token) throw new SendApiError(`no access token for page ${pageId}`, { code: 'no_token', retryable: false, attempts: 0, pageId, recipientId });
    const url = this.url(token);
    const body = JSON.stringify(request);
    for (let attempt = 1; ; attempt++) {
      try {
        const data = (await postJson(this.transport, this.agent, url, body, this.opts.timeoutMs)) as { recipient_id?: string; message_id?: string };
        return { recipientId: data.recipient_id ?? recipientId, attempts: attempt, ...(data.message_id ? { messageId: data.message_id } : {}) };
      } catch (err) {
        const e = classify(err as Failure, { attempts: attempt, pageId, recipientId });
        // An uncertain failure is not retried blindly: the caller waits for the echo first.
        if (!e.retryable || e.uncertain || attempt >= this.opts.maxAttempts) throw e;
        const cap = Math.min(this.opts.backoffMaxMs, this.opts.backoffBaseMs * 2 ** (attempt - 1));
        const delay = Math.round(Math.random() * cap);
        this.opts.onRetry?.(e, delay);
        await sleep(delay);
      }
    }
  }
}
