/**
 * The HTTP client of every send API: one JSON POST over keep-alive connections, and retries
 * with exponential backoff and full jitter for the failures an adapter calls retryable.
 * Plain node:http(s): one request per reply is the whole job, and axios' config merging and
 * adapters cost a third of a worker's CPU under load (see bench/OPTIMISATION.md).
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import http from 'node:http';
import https from 'node:https';
import { sleep } from '../lib/sleep';
import type { SendError } from './channel';

/** A failed exchange: an HTTP answer that is not 2xx, or a transport error (`code`: errno or 'timeout'). */
export type Failure = { status: number; body: string; headers: http.IncomingHttpHeaders } | { code: string; message: string };

/** Refused or unresolvable: the request never left. Anything else (timeout, reset, hang-up) may have been delivered. */
export const NEVER_SENT = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);

export interface JsonAnswer {
  status: number;
  body: unknown;
  headers: http.IncomingHttpHeaders;
}

export class HttpJsonClient {
  private readonly transport: typeof http | typeof https;
  private readonly agent: http.Agent;
  readonly base: string;

  constructor(baseUrl: string, maxSockets = 256) {
    const url = new URL(baseUrl);
    this.transport = url.protocol === 'https:' ? https : http;
    this.agent = url.protocol === 'https:' ? new https.Agent({ keepAlive: true, maxSockets }) : new http.Agent({ keepAlive: true, maxSockets });
    this.base = baseUrl.replace(/\/+$/, '');
  }

  /** One POST of a JSON body; resolves with the parsed 2xx answer, rejects with a Failure. */
  post(url: URL, body: string, headers: Record<string, string>, timeoutMs: number): Promise<JsonAnswer> {
    return this.exchange('POST', url, body, headers, timeoutMs);
  }

  /** One GET (profile look-ups); the same answers and failures as `post`. */
  get(url: URL, headers: Record<string, string>, timeoutMs: number): Promise<JsonAnswer> {
    return this.exchange('GET', url, undefined, headers, timeoutMs);
  }

  private exchange(method: 'GET' | 'POST', url: URL, body: string | undefined, headers: Record<string, string>, timeoutMs: number): Promise<JsonAnswer> {
    return new Promise((resolve, reject) => {
      let done = false;
      const fail = (f: Failure) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        reject(f);
      };
      const req = this.transport.request(
        {
          protocol: url.protocol,
          hostname: url.hostname,
          port: url.port,
          path: url.pathname + url.search,
          method,
          agent: this.agent,
          headers: body === undefined ? headers : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...headers },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', (err: NodeJS.ErrnoException) => fail({ code: err.code ?? 'network', message: err.message }));
          res.on('end', () => {
            if (done) return;
            const text = Buffer.concat(chunks).toString('utf8');
            const status = res.statusCode ?? 0;
            if (status < 200 || status >= 300) return fail({ status, body: text, headers: res.headers });
            done = true;
            clearTimeout(timer);
            let parsed: unknown = {};
            try {
              parsed = text ? JSON.parse(text) : {};
            } catch {
              /* a 2xx without JSON: the platform accepted it */
            }
            resolve({ status, body: parsed, headers: res.headers });
          });
        },
      );
      // The whole exchange, connection included.
      const timer = setTimeout(() => {
        fail({ code: 'timeout', message: `no answer within ${timeoutMs} ms` });
        req.destroy();
      }, timeoutMs);
      req.on('error', (err: NodeJS.ErrnoException) => fail({ code: err.code ?? 'network', message: err.message }));
      req.end(body);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

/**
 * Set by the reply ledger around a send: whether the sending worker still holds the
 * conversation. A worker that lost it (stalled, presumed dead, its conversation taken over)
 * must not go on retrying: the new holder decides about that reply now.
 */
export const sendScope = new AsyncLocalStorage<{ stillHeld(): boolean }>();

export interface RetryOptions {
  maxAttempts: number;
  backoffBaseMs: number;
  backoffMaxMs: number;
  onRetry?: (err: SendError, delayMs: number) => void;
}

/**
 * Runs `attempt` until it succeeds, or fails with an error that is not retryable, is
 * uncertain (the caller decides what a maybe-delivered send means), or is the last attempt.
 */
export async function withRetries<T>(opts: RetryOptions, attempt: (n: number) => Promise<T>, classify: (err: unknown, n: number) => SendError): Promise<T> {
  for (let n = 1; ; n++) {
    try {
      return await attempt(n);
    } catch (err) {
      const e = classify(err, n);
      if (!e.retryable || e.uncertain || n >= opts.maxAttempts || sendScope.getStore()?.stillHeld() === false) throw e;
      const cap = Math.min(opts.backoffMaxMs, opts.backoffBaseMs * 2 ** (n - 1));
      const delay = Math.round(Math.random() * cap);
      opts.onRetry?.(e, delay);
      await sleep(delay);
    }
  }
}
