/**
 * The Messaging API as a send API: `POST {LINE_API_URL}/v2/bot/message/push` with the
 * channel's access token and an `X-Line-Retry-Key`, and the loading animation. Errors are
 * `{"message","details":[{"message","property"}]}` (developers.line.biz/en/reference/
 * messaging-api/#error-responses). A 409 for a retry key means LINE already accepted that
 * request: it is the send's success, not an error. Because the key makes a repeat harmless,
 * a timeout or a 5xx (which LINE says may still have delivered) is retried at once with the
 * same key, where other channels must wait for a confirmation.
 */
import type http from 'node:http';
import { SendError } from '../channel';
import { HttpJsonClient, NEVER_SENT, type Failure, type RetryOptions } from '../http-client';
import { sleep } from '../../lib/sleep';
import type { LinePush } from './render';

export interface LineTarget {
  account: string;
  user: string;
}

interface LineErrorBody {
  message?: string;
  details?: { message?: string; property?: string }[];
  sentMessages?: { id?: string; quoteToken?: string }[];
}

function bodyOf(text: string): LineErrorBody | undefined {
  try {
    const b = JSON.parse(text) as unknown;
    return typeof b === 'object' && b !== null ? (b as LineErrorBody) : undefined;
  } catch {
    return undefined;
  }
}

/** Turns a failed exchange into a SendError the reply ledger can act on. */
export function classifyLine(f: Failure, attempts: number, t: LineTarget): SendError {
  const ctx = { channel: 'line', account: t.account, user: t.user, attempts };
  if ('status' in f) {
    const { status } = f;
    const b = bodyOf(f.body);
    const message = b?.message ?? `HTTP ${status}`;
    const detail = { ...(b?.details?.length ? { details: b.details } : {}), ...(f.headers['x-line-request-id'] ? { requestId: f.headers['x-line-request-id'] } : {}) };
    const why = `${message}${b?.details?.length ? `: ${b.details.map((d) => `${d.property ?? '?'} ${d.message ?? ''}`.trim()).join('; ')}` : ''}`;
    if (status === 429) {
      // The monthly message quota does not come back by retrying; the rate limit does.
      const monthly = /monthly limit/i.test(message);
      return new SendError(`LINE ${monthly ? 'monthly message limit reached' : 'rate limit'}: ${why}`, { ...ctx, code: monthly ? 'monthly_limit' : 'rate_limited', status, retryable: !monthly, notSent: true, detail });
    }
    if (status >= 500) {
      // "even if you get such error, there is a possibility that your message was delivered" (LINE).
      return new SendError(`LINE answered ${status}: ${why}`, { ...ctx, code: `http_${status}`, status, retryable: true, uncertain: true, detail });
    }
    const code = status === 400 ? 'invalid_request' : status === 401 ? 'unauthorized' : status === 403 ? 'forbidden' : `http_${status}`;
    return new SendError(`LINE refused the request (${status}): ${why}`, { ...ctx, code, status, retryable: false, notSent: true, detail });
  }
  const timeout = f.code === 'timeout';
  const neverSent = NEVER_SENT.has(f.code);
  return new SendError(`LINE API ${timeout ? 'timed out' : neverSent ? 'unreachable' : 'connection lost'}: ${f.message}`, {
    ...ctx,
    code: timeout ? 'timeout' : 'network',
    retryable: true,
    uncertain: !neverSent,
    notSent: neverSent,
  });
}

export interface PushResult {
  attempts: number;
  /** The id of the first message of the push (`sentMessages[0].id`). */
  messageId?: string;
  /** LINE answered 409: a request with this retry key had been accepted before (by us, before a crash or a lost answer). */
  alreadyAccepted: boolean;
}

export interface LineApiOptions extends RetryOptions {
  baseUrl: string;
  timeoutMs: number;
}

export class LineApi {
  private readonly http: HttpJsonClient;
  private readonly pushUrl: URL;
  private readonly loadingUrl: URL;

  constructor(readonly opts: LineApiOptions) {
    this.http = new HttpJsonClient(opts.baseUrl);
    this.pushUrl = new URL(`${this.http.base}/v2/bot/message/push`);
    this.loadingUrl = new URL(`${this.http.base}/v2/bot/chat/loading/start`);
  }

  /** One push with its retry key; retries what is worth retrying, with the same key. */
  async push(token: string, push: LinePush, retryKey: string, t: LineTarget): Promise<PushResult> {
    const raw = JSON.stringify({ to: t.user, messages: push.messages });
    const headers = { authorization: `Bearer ${token}`, 'x-line-retry-key': retryKey };
    for (let n = 1; ; n++) {
      try {
        const answer = await this.http.post(this.pushUrl, raw, headers, this.opts.timeoutMs);
        return { attempts: n, alreadyAccepted: false, ...firstId(answer.body as LineErrorBody) };
      } catch (err) {
        const f = err as Failure;
        if ('status' in f && f.status === 409) return { attempts: n, alreadyAccepted: true, ...firstId(bodyOf(f.body), f.headers) };
        const e = classifyLine(f, n, t);
        if (!e.retryable || n >= this.opts.maxAttempts) throw e;
        const delay = Math.round(Math.random() * Math.min(this.opts.backoffMaxMs, this.opts.backoffBaseMs * 2 ** (n - 1)));
        this.opts.onRetry?.(e, delay);
        await sleep(delay);
      }
    }
  }

  /** The loading animation in a one-on-one chat (`loadingSeconds`: 5 to 60, a multiple of 5); one short attempt. */
  async loading(token: string, t: LineTarget, seconds: number): Promise<void> {
    try {
      await this.http.post(this.loadingUrl, JSON.stringify({ chatId: t.user, loadingSeconds: seconds }), { authorization: `Bearer ${token}` }, Math.min(this.opts.timeoutMs, 2_000));
    } catch (err) {
      throw classifyLine(err as Failure, 1, t);
    }
  }

  /** `GET /v2/bot/profile/{userId}`: displayName and pictureUrl of a user who is a friend of the account. */
  async profile(token: string, t: LineTarget): Promise<{ displayName?: string; pictureUrl?: string }> {
    try {
      return (await this.http.get(new URL(`${this.http.base}/v2/bot/profile/${encodeURIComponent(t.user)}`), { authorization: `Bearer ${token}` }, Math.min(this.opts.timeoutMs, 3_000))).body as { displayName?: string; pictureUrl?: string };
    } catch (err) {
      throw classifyLine(err as Failure, 1, t);
    }
  }

  close(): void {
    this.http.close();
  }
}

function firstId(b: LineErrorBody | undefined, headers?: http.IncomingHttpHeaders): { messageId?: string } {
  const id = b?.sentMessages?.[0]?.id;
  if (typeof id === 'string' || typeof id === 'number') return { messageId: String(id) };
  // A 409 without the messages still names the request that was accepted.
  const accepted = headers?.['x-line-accepted-request-id'];
  return typeof accepted === 'string' ? { messageId: `line-request:${accepted}` } : {};
}
