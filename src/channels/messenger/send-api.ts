/**
 * Send API client: `POST {GRAPH_API_URL}/me/messages?access_token=…` over keep-alive
 * connections, retrying transient Graph errors with exponential backoff and full jitter.
 */
import http from 'node:http';
import https from 'node:https';
import axios, { type AxiosInstance, AxiosError } from 'axios';
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

export function classify(err: unknown, ctx: { attempts: number; pageId: string; recipientId: string }): SendApiError {
  if (err instanceof AxiosError && err.response) {
    const status = err.response.status;
    const body = err.response.data as { error?: { code?: number; error_subcode?: number; message?: string; fbtrace_id?: string } } | undefined;
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
  const e = err as AxiosError;
  const timeout = e?.code === 'ECONNABORTED' || e?.code === 'ETIMEDOUT';
  // Refused or unresolvable: the request never left. Anything else (timeout, reset, hang-up)
  // may have been delivered.
  const neverSent = ['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH'].includes(String(e?.code));
  return new SendApiError(`Send API ${timeout ? 'timed out' : neverSent ? 'unreachable' : 'connection lost'}: ${e?.message ?? String(err)}`, {
    code: timeout ? 'timeout' : 'network', retryable: true, uncertain: !neverSent, ...ctx,
  });
}

export class GraphSendApi implements MessengerSender {
  private readonly http: AxiosInstance;
  constructor(private readonly opts: SendApiOptions) {
    this.http = axios.create({
      baseURL: opts.baseUrl,
      timeout: opts.timeoutMs,
      maxRedirects: 0, // the Send API never redirects; skips axios' redirect-following transport
      httpAgent: new http.Agent({ keepAlive: true, maxSockets: 256 }),
      httpsAgent: new https.Agent({ keepAlive: true, maxSockets: 256 }),
      headers: { 'content-type': 'application/json' },
    });
  }

  async senderAction(pageId: string, userId: string, action: 'typing_on' | 'typing_off' | 'mark_seen'): Promise<void> {
    const token = this.opts.pages.token(pageId);
    if (!token) throw new SendApiError(`no access token for page ${pageId}`, { code: 'no_token', retryable: false, attempts: 0, pageId, recipientId: userId });
    try {
      await this.http.post('/me/messages', { recipient: { id: userId }, sender_action: action }, { params: { access_token: token }, timeout: Math.min(this.opts.timeoutMs, 2_000) });
    } catch (err) {
      throw classify(err, { attempts: 1, pageId, recipientId: userId });
    }
  }

  async send(pageId: string, request: SendRequest): Promise<SendResult> {
    const recipientId = request.recipient.id;
    const token = this.opts.pages.token(pageId);
    if (!token) throw new SendApiError(`no access token for page ${pageId}`, { code: 'no_token', retryable: false, attempts: 0, pageId, recipientId });
    for (let attempt = 1; ; attempt++) {
      try {
        const res = await this.http.post('/me/messages', request, { params: { access_token: token } });
        const data = res.data as { recipient_id?: string; message_id?: string };
        return { recipientId: data.recipient_id ?? recipientId, attempts: attempt, ...(data.message_id ? { messageId: data.message_id } : {}) };
      } catch (err) {
        const e = classify(err, { attempts: attempt, pageId, recipientId });
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
