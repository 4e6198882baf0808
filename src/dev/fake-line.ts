/**
 * A local stand-in for the LINE Messaging API, used by dev mode, the tests and the bench. It
 * follows LINE's documentation: the push and loading-animation endpoints
 * (developers.line.biz/en/reference/messaging-api/#send-push-message, #display-a-loading-
 * indicator), bearer-token authentication, message objects and their limits answered with
 * LINE's error body `{"message","details":[{"message","property"}]}` (#error-responses), and
 * retry keys (developers.line.biz/en/docs/messaging-api/retrying-api-request/): a key is
 * remembered for 24 hours after the request it came with was accepted; the same key again — with
 * the same body or not, LINE executes a keyed request once — is answered 409 with
 * `x-line-accepted-request-id` and the accepted request's `sentMessages`. Latency and faults on
 * cue (5xx, 429, no answer, a cut connection, and a push delivered whose answer is lost). It
 * also plays LINE's webhook side: signed POSTs of user messages to our /webhook/line.
 */
import crypto from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import type { LineAccount } from '../channels/line/account';
import { UUID } from '../channels/line/retry-key';
import { checkPushMessages, type LineErrorDetail } from './fake-line-check';
import { deliver, messageId, postbackEvent, textEvent, type LineEvent } from './fake-line-webhook';

export interface LinePushRecord {
  /** The channel (bot user id) whose token sent it. */
  account: string;
  to: string;
  messages: Record<string, unknown>[];
  retryKey?: string;
  requestId: string;
  sentMessages: { id: string; quoteToken?: string }[];
  at: number;
}

export type LineFault =
  | { kind: 'error'; status: number; message?: string }
  /** No answer, nothing delivered. */
  | { kind: 'timeout' }
  /** The connection is cut before the request is handled. */
  | { kind: 'drop' }
  /** The push is delivered (and its key remembered), then the connection is cut before the answer. */
  | { kind: 'lose-response' }
  /** The push is delivered, and the answer never comes: the window in which a worker can die having sent. */
  | { kind: 'accept-hang' };

export interface FakeLineOptions {
  channels: readonly Pick<LineAccount, 'id' | 'channelSecret' | 'accessToken'>[];
  latencyMs?: number;
  /** How long an accepted retry key is remembered (LINE: 24 hours). */
  retryKeyTtlMs?: number;
  /** Our /webhook/line, for the webhook side. */
  webhookUrl?: string;
}

const ERRORS: Record<number, string> = {
  401: 'Authentication failed. Confirm that the access token in the authorization header is valid.',
  429: 'The API rate limit has been exceeded. Try again later.',
  500: 'An internal server error occurred.',
};
const TO = /^[UCR][0-9a-f]{32}$/;
const json = (status: number, body: unknown, headers: Record<string, string> = {}) => ({ status, body, headers });
type Answer = ReturnType<typeof json>;

export class FakeLine {
  readonly pushes: LinePushRecord[] = [];
  /** 409 answers: a retry key seen again, and whether the body was the same. */
  readonly conflicts: { retryKey: string; to: string; sameBody: boolean; at: number }[] = [];
  readonly loadings: { account: string; chatId: string; seconds: number; at: number }[] = [];
  /** 4xx answers other than 409, newest last (what our adapter got wrong). */
  readonly refused: { status: number; body: unknown; at: number }[] = [];
  latencyMs: number;
  private readonly faults: LineFault[] = [];
  private readonly keys = new Map<string, { record: LinePushRecord; body: string; until: number }>();
  private readonly byToken: Map<string, Pick<LineAccount, 'id' | 'channelSecret' | 'accessToken'>>;
  private readonly hanging = new Set<http.ServerResponse>();
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  private server?: http.Server;

  constructor(private readonly opts: FakeLineOptions) {
    this.latencyMs = opts.latencyMs ?? 0;
    this.byToken = new Map(opts.channels.map((c) => [c.accessToken, c]));
  }

  setWebhook(url: string): void {
    this.opts.webhookUrl = url;
  }

  /** The next `count` push requests meet `fault` (in order, after faults already queued). */
  failNext(count: number, fault: LineFault): void {
    for (let i = 0; i < count; i++) this.faults.push(fault);
  }

  pushesTo(user: string): LinePushRecord[] {
    return this.pushes.filter((p) => p.to === user);
  }

  /** What a user saw: the text of every bubble pushed to them, in order. */
  textsTo(user: string): string[] {
    return this.pushesTo(user).flatMap((p) => p.messages.map((m) => String(m.text ?? (m.template as { text?: string } | undefined)?.text ?? m.originalContentUrl ?? m.type)));
  }

  /** "Send this user message as LINE would": a signed POST to our webhook (with LINE's redelivery). */
  async sendUserMessage(m: { user: string; text?: string; postback?: string; account?: string; attempts?: number }): Promise<{ status: number; event: LineEvent }> {
    const channel = this.opts.channels.find((c) => c.id === (m.account ?? this.opts.channels[0]?.id));
    if (!channel || !this.opts.webhookUrl) throw new Error('no LINE channel or webhook URL to post to');
    const event = m.postback !== undefined ? postbackEvent(m.user, m.postback) : textEvent(m.user, m.text ?? '');
    const status = await deliver(this.opts.webhookUrl, channel.id, [event], channel.channelSecret, { attempts: m.attempts ?? 3, agent: this.agent });
    return { status, event };
  }

  /** Dev mode's router (mounted under /_dev/line): the API itself, what was pushed, and the emulator's "send as the user". */
  router(): express.Router {
    const r = express.Router();
    r.get('/pushes', (req, res) => {
      const user = typeof req.query.user === 'string' ? req.query.user : undefined;
      const limit = Math.min(1_000, Math.max(1, Number(req.query.limit) || 20));
      res.json((user ? this.pushesTo(user) : this.pushes).slice(-limit).map((p) => ({ account: p.account, to: p.to, messages: p.messages, at: new Date(p.at).toISOString() })));
    });
    r.post('/emulate', express.json(), async (req, res) => {
      const b = (req.body ?? {}) as { user?: unknown; text?: unknown; postback?: unknown };
      if (typeof b.user !== 'string' || !TO.test(b.user) || (typeof b.text !== 'string' && typeof b.postback !== 'string')) {
        res.status(400).json({ error: 'user (U + 32 hex digits) and text or postback are required' });
        return;
      }
      const sent = await this.sendUserMessage({ user: b.user, ...(typeof b.text === 'string' ? { text: b.text } : {}), ...(typeof b.postback === 'string' ? { postback: b.postback } : {}), attempts: 1 });
      res.status(sent.status >= 200 && sent.status < 300 ? 200 : 502).json({ webhookStatus: sent.status, webhookEventId: sent.event.webhookEventId });
    });
    // Get profile (developers.line.biz Messaging API reference, "Get profile"): a friend's display
    // name and picture; 404 for a user who is not a friend of the account.
    r.get('/v2/bot/profile/:userId', (req, res) => {
      const m = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '');
      if (!m || !this.byToken.has(m[1]!)) return void res.status(401).json({ message: ERRORS[401] });
      const user = String(req.params.userId);
      if (!TO.test(user)) return void res.status(404).json({ message: 'Not found' });
      res.json({ userId: user, displayName: `LINE user ${user.slice(-4)}`, pictureUrl: `https://profile.line-scdn.net/${user.slice(-8)}`, language: 'en' });
    });
    r.use((req, res, next) => (req.method === 'POST' ? this.receive(req, res) : next()));
    return r;
  }

  async listen(): Promise<string> {
    const app = express();
    app.use(this.router());
    this.server = http.createServer((req, res) => (req.method === 'POST' && req.url?.startsWith('/v2/') ? this.receive(req, res) : app(req, res)));
    await new Promise<void>((resolve) => this.server!.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    for (const res of this.hanging) res.destroy();
    this.hanging.clear();
    this.agent.destroy();
    if (!this.server) return;
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server!.close(() => resolve()));
  }

  private receive(req: http.IncomingMessage, res: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => void this.handle(req, res, Buffer.concat(chunks).toString('utf8')));
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse, raw: string): Promise<void> {
    if (this.latencyMs > 0) await new Promise((r) => setTimeout(r, this.latencyMs));
    const path = (req.url ?? '').split('?')[0];
    const isPush = path === '/v2/bot/message/push';
    const fault = isPush ? this.faults.shift() : undefined;
    if (fault?.kind === 'timeout') return void this.hanging.add(res);
    if (fault?.kind === 'drop') return void req.socket.destroy();
    const answer = isPush ? this.push(req, raw, fault) : path === '/v2/bot/chat/loading/start' ? this.loading(req, raw) : json(404, { message: 'Not found' });
    if (answer.status >= 400 && answer.status !== 409) this.refused.push({ status: answer.status, body: answer.body, at: Date.now() });
    const delivered = answer.status === 200 || answer.status === 409;
    if (delivered && fault?.kind === 'lose-response') return void req.socket.destroy();
    if (delivered && fault?.kind === 'accept-hang') return void this.hanging.add(res);
    const text = JSON.stringify(answer.body);
    res.writeHead(answer.status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'x-line-request-id': crypto.randomUUID(), ...answer.headers });
    res.end(text);
  }

  private channelOf(req: http.IncomingMessage) {
    const m = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '');
    return m ? this.byToken.get(m[1]!) : undefined;
  }

  private parse(raw: string): { body: Record<string, unknown> } | { answer: Answer } {
    try {
      const body = JSON.parse(raw) as unknown;
      if (typeof body === 'object' && body !== null && !Array.isArray(body)) return { body: body as Record<string, unknown> };
    } catch {
      /* below */
    }
    return { answer: json(400, { message: 'The request body could not be parsed as JSON' }) };
  }

  private push(req: http.IncomingMessage, raw: string, fault: LineFault | undefined): Answer {
    const channel = this.channelOf(req);
    if (!channel) return json(401, { message: ERRORS[401] });
    if (fault?.kind === 'error') return json(fault.status, { message: fault.message ?? ERRORS[fault.status] ?? 'Error' });
    const retryKey = req.headers['x-line-retry-key'];
    if (retryKey !== undefined && (typeof retryKey !== 'string' || !UUID.test(retryKey))) return json(400, { message: "The value for the 'X-Line-Retry-Key' header is invalid" });
    const parsed = this.parse(raw);
    if ('answer' in parsed) return parsed.answer;
    const body = parsed.body;
    const now = Date.now();
    const seen = retryKey ? this.keys.get(`${channel.id}|${retryKey}`) : undefined;
    if (seen && seen.until > now) {
      this.conflicts.push({ retryKey: retryKey!, to: String(body.to), sameBody: seen.body === raw, at: now });
      return json(409, { message: 'The retry key is already accepted', sentMessages: seen.record.sentMessages }, { 'x-line-accepted-request-id': seen.record.requestId });
    }
    const details: LineErrorDetail[] = [];
    if (body.to === undefined) details.push({ message: 'must be specified', property: 'to' });
    details.push(...checkPushMessages(body));
    if (details.length) return json(400, { message: `The request body has ${details.length} error(s)`, details });
    // A user id that does not exist (or was issued by another provider): LINE's FAQ answer.
    if (typeof body.to !== 'string' || !TO.test(body.to)) return json(400, { message: 'Failed to send messages' });
    const messages = body.messages as Record<string, unknown>[];
    const sentMessages = messages.map((m) => ({ id: messageId(), ...(m.type === 'text' || m.type === 'image' || m.type === 'video' ? { quoteToken: crypto.randomBytes(16).toString('base64url') } : {}) }));
    const record: LinePushRecord = { account: channel.id, to: body.to, messages, ...(retryKey ? { retryKey } : {}), requestId: crypto.randomUUID(), sentMessages, at: now };
    this.pushes.push(record);
    if (retryKey) this.keys.set(`${channel.id}|${retryKey}`, { record, body: raw, until: now + (this.opts.retryKeyTtlMs ?? 24 * 3_600_000) });
    return json(200, { sentMessages });
  }

  private loading(req: http.IncomingMessage, raw: string): Answer {
    const channel = this.channelOf(req);
    if (!channel) return json(401, { message: ERRORS[401] });
    if (req.headers['x-line-retry-key'] !== undefined) return json(400, { message: 'X-Line-Retry-Key is not supported by this endpoint' });
    const parsed = this.parse(raw);
    if ('answer' in parsed) return parsed.answer;
    const body = parsed.body;
    const seconds = body.loadingSeconds ?? 20;
    const details: LineErrorDetail[] = [];
    if (typeof body.chatId !== 'string' || !/^U[0-9a-f]{32}$/.test(body.chatId)) details.push({ message: 'must be the user id of a one-on-one chat', property: 'chatId' });
    if (!Number.isInteger(seconds) || (seconds as number) < 5 || (seconds as number) > 60 || (seconds as number) % 5 !== 0) details.push({ message: 'must be a multiple of 5 between 5 and 60', property: 'loadingSeconds' });
    if (details.length) return json(400, { message: `The request body has ${details.length} error(s)`, details });
    this.loadings.push({ account: channel.id, chatId: body.chatId as string, seconds: seconds as number, at: Date.now() });
    return json(202, {});
  }
}
