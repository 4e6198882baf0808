/**
 * A local stand-in for the WhatsApp Cloud API, mounted into FakeGraph (`graph.mount(fake.router())`)
 * so one GRAPH_API_URL serves Messenger and WhatsApp, as graph.facebook.com does. Used by dev
 * mode, the tests and the bench. It follows Meta's documentation:
 * - Messages API: `POST /{version}/{phone-number-id}/messages`, `Authorization: Bearer`, the
 *   answer `{"messaging_product":"whatsapp","contacts":[…],"messages":[{"id":"wamid…"}]}`, and
 *   mark-as-read with the typing indicator (`{"status":"read","message_id",…}` -> `{"success":true}`);
 * - interactive reply buttons / list messages and media messages: their limits (fake-whatsapp-check.ts);
 * - error codes and bodies (support/error-codes): `{"error":{"message":"(#131009) …","type":
 *   "OAuthException","code","error_data":{"messaging_product":"whatsapp","details"},"fbtrace_id"}}`;
 *   190 with HTTP 401 for a bad token, 100 (subcode 33) for a number the token does not own;
 * - status webhooks (webhooks/reference/messages/status): `sent`, then `delivered` (then `read`
 *   when asked), each signed with the app secret (X-Hub-Signature-256) and carrying our
 *   `biz_opaque_callback_data`, retried until acknowledged as Meta retries;
 * - the customer service window: with `enforceWindow`, a free-form message more than 24 h after
 *   the user's last one is accepted, then fails with a `failed` status, error 131047 — the Cloud
 *   API reports it that way, not in the send answer.
 * Faults on cue (FakeGraph's model: error, timeout, drop, lose-response), latency, and an API for
 * the emulator: `sendUserMessage` (a user's message as WhatsApp posts it) and `messagesTo`.
 */
import crypto from 'node:crypto';
import http from 'node:http';
import express from 'express';
import { encodeLikeFacebook, sign } from '../channels/meta/signature';
import type { Fault } from './fake-graph';
import { checkSend, REFUSAL_TITLES } from './fake-whatsapp-check';
import { userMessageBody, statusBody, type UserMessage } from './fake-whatsapp-wire';

export const WINDOW_MS = 24 * 3_600_000;

export interface SentMessage {
  phoneNumberId: string;
  to: string;
  wamid: string;
  body: Record<string, unknown>;
  type: string;
  /** The text the user sees: a text body, or an interactive message's body. */
  text?: string;
  /** Parsed `biz_opaque_callback_data`, when it is JSON. */
  token?: { mid?: string; i?: number } & Record<string, unknown>;
  at: number;
  /** Statuses posted to the webhook (acknowledged), in order. */
  statuses: string[];
}

export interface FakeWhatsAppOptions {
  /** Phone number id -> its access token. */
  numbers: ReadonlyMap<string, string>;
  webhook?: { url: string; appSecret: string };
  latencyMs?: number;
  /** Also post a `read` status (users who open the chat at once). */
  read?: boolean;
  /** Refuse free-form messages outside the 24-hour window (error 131047). */
  enforceWindow?: boolean;
  wabaId?: string;
}

interface Exchange {
  phone: string;
  auth: string | undefined;
  raw: Buffer;
  reply(status: number, json: unknown): void;
  destroy(): void;
}

export class FakeWhatsApp {
  readonly sent: SentMessage[] = [];
  /** Mark-as-read calls: which message, and whether with the typing indicator. */
  readonly reads: { phoneNumberId: string; messageId: string; typing: boolean; at: number }[] = [];
  private readonly lastInbound = new Map<string, number>();
  private readonly faults: Fault[] = [];
  private readonly hanging = new Set<Exchange>();
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  latencyMs: number;
  statusesPosted = 0;
  randomFaults = { errorRate: 0, timeoutRate: 0 };

  constructor(private readonly opts: FakeWhatsAppOptions) {
    this.latencyMs = opts.latencyMs ?? 0;
  }

  setWebhook(webhook: FakeWhatsAppOptions['webhook']): void {
    this.opts.webhook = webhook;
  }

  /** Refuse (with a 131047 `failed` status) free-form messages to users whose last message is older than 24 h. */
  get enforceWindow(): boolean {
    return this.opts.enforceWindow === true;
  }

  set enforceWindow(on: boolean) {
    this.opts.enforceWindow = on;
  }

  /** The next `count` message sends fail with `fault` (mark-as-read calls are not counted). */
  failNext(count: number, fault: Fault): void {
    for (let i = 0; i < count; i++) this.faults.push(fault);
  }

  messagesTo(user: string, phoneNumberId?: string): SentMessage[] {
    return this.sent.filter((m) => m.to === user && (phoneNumberId === undefined || m.phoneNumberId === phoneNumberId));
  }

  /** The user's last message, as WhatsApp knows it: opens the 24-hour window. */
  noteInbound(phoneNumberId: string, user: string, atMs: number): void {
    const k = `${phoneNumberId}:${user}`;
    this.lastInbound.set(k, Math.max(this.lastInbound.get(k) ?? 0, atMs));
  }

  /** A user's message as WhatsApp posts it to the webhook (signed); resolves with its wamid and the webhook's answer. */
  async sendUserMessage(m: UserMessage): Promise<{ wamid: string; status: number }> {
    const phone = m.phoneNumberId ?? [...this.opts.numbers.keys()][0]!;
    const wamid = m.wamid ?? newWamid();
    const at = m.atMs ?? Date.now();
    this.noteInbound(phone, m.user, at);
    const status = await this.post(encodeLikeFacebook(userMessageBody({ ...m, phoneNumberId: phone, wamid, atMs: at }, this.opts.wabaId)));
    return { wamid, status };
  }

  router(): express.Router {
    const r = express.Router();
    r.post(
      '/:version/:phone/messages',
      (req, _res, next) => next(req.params.phone === 'me' ? 'route' : undefined), // Messenger's Send API
      express.raw({ type: () => true, limit: '1mb' }),
      (req, res) =>
        void this.handle({
          phone: req.params.phone!,
          auth: req.headers.authorization,
          raw: Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0),
          reply: (status, json) => res.status(status).json(json),
          destroy: () => req.socket.destroy(),
        }),
    );
    return r;
  }

  async close(): Promise<void> {
    for (const x of this.hanging) x.destroy();
    this.hanging.clear();
    this.agent.destroy();
  }

  private error(x: Exchange, status: number, code: number, message: string, extra: Record<string, unknown> = {}): void {
    x.reply(status, { error: { message, type: 'OAuthException', code, ...extra, fbtrace_id: crypto.randomBytes(8).toString('base64url') } });
  }

  private async handle(x: Exchange): Promise<void> {
    if (this.latencyMs > 0) await new Promise((r) => setTimeout(r, this.latencyMs));
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(x.raw.toString('utf8') || '{}');
    } catch {
      return this.error(x, 400, 100, '(#100) Invalid parameter', { error_data: { messaging_product: 'whatsapp', details: 'the body is not valid JSON' } });
    }
    const isMessage = body.status === undefined;
    let fault = isMessage ? this.faults.shift() : undefined;
    if (!fault && isMessage && this.randomFaults.errorRate + this.randomFaults.timeoutRate > 0) {
      const roll = Math.random();
      if (roll < this.randomFaults.timeoutRate) fault = { kind: 'timeout' };
      else if (roll < this.randomFaults.timeoutRate + this.randomFaults.errorRate) fault = { kind: 'error', status: 500, code: 131000, message: '(#131000) Something went wrong' };
    }
    if (fault?.kind === 'timeout') return void this.hanging.add(x);
    if (fault?.kind === 'drop') return x.destroy();
    const token = /^Bearer (\S+)$/.exec(x.auth ?? '')?.[1];
    if (!token) return this.error(x, 400, 104, 'An access token is required to request this resource.');
    if (![...this.opts.numbers.values()].includes(token)) return this.error(x, 401, 190, 'Invalid OAuth access token - Cannot parse access token');
    if (!this.opts.numbers.has(x.phone) || this.opts.numbers.get(x.phone) !== token)
      return this.error(x, 400, 100, `Unsupported post request. Object with ID '${x.phone}' does not exist, cannot be loaded due to missing permissions, or does not support this operation.`, { error_subcode: 33 });
    if (fault?.kind === 'error') return this.error(x, fault.status, fault.code, fault.message ?? `(#${fault.code}) Error`, { error_data: { messaging_product: 'whatsapp', details: 'fault on cue' } });
    const refusal = checkSend(body);
    if (refusal) return this.error(x, 400, refusal.code, `(#${refusal.code}) ${REFUSAL_TITLES[refusal.code]}`, { error_data: { messaging_product: 'whatsapp', details: refusal.details } });
    if (!isMessage) {
      this.reads.push({ phoneNumberId: x.phone, messageId: String(body.message_id), typing: body.typing_indicator !== undefined, at: Date.now() });
      return x.reply(200, { success: true });
    }
    this.accept(x, body, fault?.kind === 'lose-response');
  }

  private accept(x: Exchange, body: Record<string, unknown>, loseResponse: boolean): void {
    const to = String(body.to).replace(/^\+/, '');
    const wamid = newWamid();
    const type = String(body.type ?? 'text');
    const m: SentMessage = { phoneNumberId: x.phone, to, wamid, body, type, at: Date.now(), statuses: [], ...textOf(body), ...tokenOf(body.biz_opaque_callback_data) };
    this.sent.push(m);
    if (loseResponse) x.destroy();
    else x.reply(200, { messaging_product: 'whatsapp', contacts: [{ input: String(body.to), wa_id: to }], messages: [{ id: wamid }] });
    const last = this.lastInbound.get(`${x.phone}:${to}`);
    const outside = this.opts.enforceWindow === true && (last === undefined || Date.now() - last > WINDOW_MS);
    void this.postStatuses(m, outside ? ['failed'] : ['sent', 'delivered', ...(this.opts.read ? ['read'] : [])]);
  }

  private async postStatuses(m: SentMessage, statuses: string[]): Promise<void> {
    for (const status of statuses) {
      const raw = encodeLikeFacebook(statusBody(m, status, this.opts.wabaId));
      if ((await this.deliver(raw)) !== 200) return; // Meta gave up: later statuses are not sent either
      m.statuses.push(status);
      this.statusesPosted++;
    }
  }

  /** Posts to the webhook until it answers 200, as Meta retries (here for about 40 s). */
  private async deliver(raw: string): Promise<number> {
    let status = 0;
    for (let attempt = 0; attempt < 12 && this.opts.webhook; attempt++) {
      status = await this.post(raw).catch(() => 0);
      if (status === 200) return status;
      await new Promise((r) => setTimeout(r, Math.min(5_000, 200 * 2 ** attempt)));
    }
    return status;
  }

  private post(raw: string): Promise<number> {
    const w = this.opts.webhook;
    if (!w) return Promise.reject(new Error('FakeWhatsApp: no webhook set (setWebhook)'));
    return new Promise((resolve, reject) => {
      const headers = { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(raw)), 'x-hub-signature-256': sign(raw, w.appSecret) };
      const req = http.request(w.url, { method: 'POST', agent: this.agent, headers }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(raw);
    });
  }
}

export const newWamid = (): string => `wamid.${crypto.randomBytes(27).toString('base64')}`;

function textOf(body: Record<string, unknown>): { text?: string } {
  const t = (body.text as { body?: unknown } | undefined)?.body ?? (body.interactive as { body?: { text?: unknown } } | undefined)?.body?.text;
  return typeof t === 'string' ? { text: t } : {};
}

function tokenOf(v: unknown): { token?: SentMessage['token'] } {
  if (typeof v !== 'string') return {};
  try {
    const t = JSON.parse(v);
    return typeof t === 'object' && t !== null ? { token: t } : {};
  } catch {
    return {};
  }
}
