/**
 * A local stand-in for the Graph API's Send API, used by dev mode, the tests and the bench.
 * It answers like the real one — the same status codes and `{"error":{…}}` bodies, latency
 * and faults on cue — records every call, and, like Facebook for an app subscribed to
 * `message_echoes`, posts a signed echo of each delivered message back to the webhook.
 * It also answers the ID Matching API (`GET /{asid}/ids_for_pages`, with the app access token
 * and its appsecret_proof) from a mapping the test sets.
 */
import crypto from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { encodeLikeFacebook, sign } from '../channels/meta/signature';
import { PAGE_INBOX_APP_ID, Threads } from './fake-graph-handover';

export interface RecordedCall {
  pageId: string;
  recipientId: string;
  body: Record<string, unknown>;
  text?: string;
  /** Parsed `message.metadata`, when it is JSON. */
  metadata?: { mid?: string; i?: number } & Record<string, unknown>;
  messageId?: string;
  at: number;
}

export type Fault =
  | { kind: 'error'; status: number; code: number; message?: string; subcode?: number }
  | { kind: 'timeout' }
  | { kind: 'drop' }
  /** Delivers the message (recorded, echoed) but cuts the connection before answering. */
  | { kind: 'lose-response' };

export interface FakeGraphOptions {
  /** access token -> page id. Unknown tokens get error 190 unless `anyTokenPage` is set. */
  tokens?: Map<string, string>;
  anyTokenPage?: string;
  latencyMs?: number;
  /** Post signed echoes of delivered messages to this webhook. */
  echo?: { webhookUrl: string; appSecret: string; appId?: number };
  /** Our app's id (the primary receiver of the Handover Protocol, and the echoes' app_id). */
  appId?: number;
  /** The app whose access token (`{id}|{secret}`, with appsecret_proof) `ids_for_pages` accepts. */
  app?: { id: string; secret: string };
  /** `ids_for_pages` entries per answer when the request names no `limit` (Graph's default: 25). */
  idsPageSize?: number;
}

/** One page-scoped id of an app-scoped user, as `ids_for_pages` lists it. */
export interface PageIdentity {
  page: string;
  psid: string;
  pageName?: string;
}

/** Another product on the same `/me/messages` for its tokens (Instagram): the account a token sends as, its refusals (code 100), its echo and where that goes. */
export interface SendFlavor {
  accountOf(token: string): string | undefined;
  refuse(body: Record<string, unknown>): { message: string; subcode?: number } | undefined;
  echo(account: string, user: string, mid: string, message: Record<string, unknown>, now: number): unknown;
  readonly webhook?: FakeGraphOptions['echo'];
}

const ERRORS: Record<number, string> = {
  2: 'An unexpected error has occurred. Please retry your request later.',
  4: 'Application request limit reached',
  10: '(#10) This message is sent outside of allowed window.',
  100: '(#100) Invalid parameter',
  190: 'Invalid OAuth access token - Cannot parse access token',
  200: '(#200) Permissions error',
  551: "This person isn't available right now.",
  613: 'Calls to this api have exceeded the rate limit.',
  1200: 'Temporary send message failure. Please try again later',
};

/** One Send API request, whichever server received it (the express router of dev mode, or `listen()`'s own). */
interface Exchange {
  body: unknown;
  token: unknown;
  reply(status: number, json: unknown): void;
  /** Cuts the connection without an answer. */
  destroy(): void;
}

export class FakeGraph {
  readonly calls: RecordedCall[] = [];
  private readonly faults: Fault[] = [];
  private readonly lookupFaults: Fault[] = [];
  /** ID Matching: app-scoped user id -> their page-scoped ids (set by the test). */
  readonly idsForPages = new Map<string, PageIdentity[]>();
  /** `ids_for_pages` entries per answer when the request names no `limit` (Graph's default: 25). */
  idsPageSize: number;
  private server?: http.Server;
  private readonly hanging = new Set<Exchange>();
  /** Echo POSTs to the webhook over keep-alive connections, as Facebook's would be. */
  private readonly echoAgent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  latencyMs: number;
  echoesSent = 0;
  /** Chaos: share of calls that fail with a transient 5xx (Graph code 2), and that never get an answer. */
  randomFaults = { errorRate: 0, timeoutRate: 0 };

  /** Thread ownership (Handover Protocol) and user profiles. */
  readonly threads: Threads;

  constructor(private readonly opts: FakeGraphOptions = {}) {
    this.latencyMs = opts.latencyMs ?? 0;
    this.idsPageSize = opts.idsPageSize ?? 25;
    this.threads = new Threads(String(opts.appId ?? opts.echo?.appId ?? 1));
  }

  /** The page's staff answer from Facebook's Page Inbox: Facebook sends our app the echo (the Page Inbox's app id, no metadata). */
  async staffReply(pageId: string, userId: string, text: string): Promise<number> {
    return this.deliver(Threads.staffEcho(pageId, userId, text));
  }

  /** The staff mark the conversation done in the Page Inbox: the thread comes back to us, with a `pass_thread_control` event. */
  async inboxPassesBack(pageId: string, userId: string): Promise<number> {
    this.threads.setOwner(pageId, userId, this.threads.ourAppId);
    return this.deliver(Threads.webhook(pageId, userId, { pass_thread_control: { previous_owner_app_id: PAGE_INBOX_APP_ID, new_owner_app_id: this.threads.ourAppId, metadata: 'done in the Page Inbox' } }));
  }

  /** Another app (the Page Inbox by default) asks us for the thread: a `request_thread_control` event. */
  async requestThread(pageId: string, userId: string, appId = PAGE_INBOX_APP_ID): Promise<number> {
    return this.deliver(Threads.webhook(pageId, userId, { request_thread_control: { requested_owner_app_id: appId, metadata: 'a person wants to answer' } }));
  }

  /** A signed webhook POST to our gateway (the echo URL), as Facebook sends it. */
  private async deliver(body: unknown): Promise<number> {
    const echo = this.opts.echo;
    if (!echo) throw new Error('FakeGraph: no webhook to deliver to (setEcho first)');
    const raw = encodeLikeFacebook(body);
    return this.postWebhook(echo.webhookUrl, raw, { 'content-type': 'application/json', 'x-hub-signature-256': sign(raw, echo.appSecret) });
  }

  /** Where to post echoes (known only once the gateway listens). */
  setEcho(echo: FakeGraphOptions['echo']): void {
    this.opts.echo = echo;
  }

  /** The next `count` message sends fail with `fault` (in order, after faults already queued); sender actions are not counted. */
  failNext(count: number, fault: Fault): void {
    for (let i = 0; i < count; i++) this.faults.push(fault);
  }

  /** The next `count` `ids_for_pages` look-ups fail with `fault` ('error', 'timeout' or 'drop'). */
  failNextLookup(count: number, fault: Fault): void {
    for (let i = 0; i < count; i++) this.lookupFaults.push(fault);
  }

  /** Calls that sent a message (not a sender action such as `mark_seen`). */
  get messages(): RecordedCall[] {
    return this.calls.filter((c) => c.body.message !== undefined);
  }

  messagesTo(recipientId: string): RecordedCall[] {
    return this.calls.filter((c) => c.recipientId === recipientId && c.body.message !== undefined);
  }

  /**
   * Other Graph API products served by the same fake (GRAPH_API_URL is one base URL for
   * Messenger, Instagram and WhatsApp): each is an express router mounted before Messenger's
   * routes, on both the dev-mode router and `listen()`'s server.
   */
  private readonly products: express.Router[] = [];

  mount(product: express.Router): void {
    this.products.push(product);
  }

  private readonly flavors: SendFlavor[] = [];
  useFlavor(flavor: SendFlavor): void {
    this.flavors.push(flavor);
  }

  router(): express.Router {
    const r = express.Router();
    r.use((req, res, next) => {
      // Resolved per request: a product mounted after the router was made still answers.
      let i = 0;
      const step = (err?: unknown): void => {
        if (err) return next(err);
        const p = this.products[i++];
        if (!p) return next();
        p(req, res, step);
      };
      step();
    });
    for (const op of ['pass_thread_control', 'take_thread_control'] as const) {
      r.post(`/:version/me/${op}`, express.json({ limit: '1mb' }), (req, res) => {
        const err = (status: number, code: number, message: string) =>
          this.error({ body: req.body, token: req.query.access_token, reply: (st, json) => res.status(st).json(json), destroy: () => req.socket.destroy() }, status, code, message);
        const page = this.pageOf(req.query.access_token);
        if (page === undefined) return err(400, 190, ERRORS[190]!);
        this.threads.handle(op, page, (req.body ?? {}) as Record<string, unknown>, (status, json) => res.status(status).json(json), err);
      });
    }
    r.get('/:version/:asid/ids_for_pages', (req, res) => void this.idsForPagesAnswer(req, res));
    r.use(
      this.threads.router(
        (t) => this.pageOf(t),
        (res, status, code, message) => this.error({ body: {}, token: '', reply: (st, json) => res.status(st).json(json), destroy: () => res.socket?.destroy() }, status, code, message),
      ),
    );
    r.post(
      '/:version/me/messages',
      express.json({ limit: '1mb' }),
      (req, res) => void this.handle({ body: req.body, token: req.query.access_token, reply: (status, json) => res.status(status).json(json), destroy: () => req.socket.destroy() }),
    );
    // What the bot "sent", newest last: how a dev-mode user sees the replies.
    r.get('/calls', (req, res) => {
      const limit = Math.min(1_000, Math.max(1, Number(req.query.limit) || 20));
      res.json(
        this.calls.slice(-limit).map((c) => {
          const m = c.body.message as { quick_replies?: { title?: string }[] } | undefined;
          return {
            page: c.pageId,
            to: c.recipientId,
            ...(c.body.sender_action ? { action: c.body.sender_action } : { text: c.text }),
            ...(m?.quick_replies ? { quickReplies: m.quick_replies.map((q) => q.title) } : {}),
            ...(c.body.tag ? { tag: c.body.tag } : {}),
            metadata: c.metadata,
            at: new Date(c.at).toISOString(),
          };
        }),
      );
    });
    return r;
  }

  async listen(): Promise<string> {
    const app = express();
    app.use(this.router());
    // Send API calls skip express: the fake stands in for Facebook's servers, and on a
    // one-machine benchmark every CPU cycle it spends is taken from the system under test.
    this.server = http.createServer((req, res) => {
      if (req.method === 'POST' && /^\/[^/]+\/me\/messages(\?|$)/.test(req.url ?? '')) this.receive(req, res);
      else app(req, res);
    });
    // A deep accept queue: a worker opens its keep-alive connections in one burst, and a SYN
    // dropped from a full queue stalls that request for seconds of retransmission.
    await new Promise<void>((resolve) => this.server!.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/v21.0`;
  }

  /** `listen()`'s own Send API endpoint: the body read and parsed by hand. */
  private receive(req: http.IncomingMessage, res: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const reply = (status: number, json: unknown) => {
        const text = JSON.stringify(json);
        res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
        res.end(text);
      };
      let body: unknown;
      try {
        body = chunks.length ? JSON.parse(Buffer.concat(chunks).toString('utf8')) : {};
      } catch {
        return reply(400, { error: { message: 'Unexpected end of JSON input', type: 'OAuthException', code: 100 } });
      }
      const token = new URL(req.url ?? '/', 'http://fake').searchParams.get('access_token') ?? undefined;
      void this.handle({ body, token, reply, destroy: () => req.socket.destroy() });
    });
  }

  async close(): Promise<void> {
    for (const x of this.hanging) x.destroy();
    this.hanging.clear();
    this.echoAgent.destroy();
    if (!this.server) return;
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server!.close(() => resolve()));
  }

  /** Messenger's limits on quick replies: at most 13, text ones need a title of at most 20 characters and a payload. */
  private checkQuickReplies(qr: unknown): string | undefined {
    if (qr === undefined) return undefined;
    if (!Array.isArray(qr) || qr.length === 0 || qr.length > 13) return '(#100) param message[quick_replies] must be an array of 1 to 13 quick replies';
    for (const [i, q] of qr.entries()) {
      if (q?.content_type !== 'text') continue;
      if (typeof q.title !== 'string' || q.title.length === 0 || q.title.length > 20) return `(#100) Title of the quick reply ${i} must be 1 to 20 characters`;
      if (typeof q.payload !== 'string' || q.payload.length === 0 || q.payload.length > 1000) return `(#100) Payload of the quick reply ${i} must be 1 to 1000 characters`;
    }
    return undefined;
  }

  private pageOf(token: unknown): string | undefined {
    if (typeof token !== 'string' || token === '') return undefined;
    return this.flavors.find((f) => f.accountOf(token) !== undefined)?.accountOf(token) ?? this.opts.tokens?.get(token) ?? this.opts.anyTokenPage;
  }

  private error(x: Exchange, status: number, code: number, message?: string, subcode?: number): void {
    x.reply(status, {
      error: {
        message: message ?? ERRORS[code] ?? 'Error',
        type: 'OAuthException',
        code,
        ...(subcode ? { error_subcode: subcode } : {}),
        ...(code === 2 || code === 1200 ? { is_transient: true } : {}),
        fbtrace_id: crypto.randomBytes(8).toString('base64url'),
      },
    });
  }

  /** The ID Matching API: the app access token and its proof checked, the user's PSIDs a page of entries at a time. */
  private async idsForPagesAnswer(req: express.Request, res: express.Response): Promise<void> {
    const x: Exchange = { body: {}, token: req.query.access_token, reply: (status, json) => res.status(status).json(json), destroy: () => req.socket.destroy() };
    if (this.latencyMs > 0) await new Promise((r) => setTimeout(r, this.latencyMs));
    const fault = this.lookupFaults.shift();
    if (fault?.kind === 'timeout') return void this.hanging.add(x);
    if (fault?.kind === 'drop' || fault?.kind === 'lose-response') return x.destroy();
    const app = this.opts.app;
    const token = typeof req.query.access_token === 'string' ? req.query.access_token : '';
    if (!app || token !== `${app.id}|${app.secret}`) return this.error(x, 400, 190, 'Invalid OAuth access token - Cannot parse access token');
    const proof = crypto.createHmac('sha256', app.secret).update(token).digest('hex');
    if (req.query.appsecret_proof !== proof) return this.error(x, 400, 100, 'Invalid appsecret_proof provided in the API argument');
    if (fault?.kind === 'error') return this.error(x, fault.status, fault.code, fault.message, fault.subcode);
    const asid = String(req.params.asid);
    const ids = this.idsForPages.get(asid);
    if (!ids) return this.error(x, 400, 100, `Unsupported get request. Object with ID '${asid}' does not exist, cannot be loaded due to missing permissions, or does not support this operation.`, 33);
    const limit = Math.min(100, Math.max(1, Number(req.query.limit) || this.idsPageSize));
    const cursor = (i: number) => Buffer.from(String(i)).toString('base64url');
    const start = typeof req.query.after === 'string' ? Number(Buffer.from(req.query.after, 'base64url').toString()) + 1 : 0;
    if (!Number.isInteger(start) || start < 0) return this.error(x, 400, 100, '(#100) Invalid cursor');
    const slice = ids.slice(start, start + limit);
    const data = slice.map((e) => ({ id: e.psid, page: { id: e.page, name: e.pageName ?? `Page ${e.page}` } }));
    const paging = slice.length ? { cursors: { before: cursor(start), after: cursor(start + slice.length - 1) } } : undefined;
    const next = start + limit < ids.length ? new URL(`${req.protocol}://${req.get('host')}${req.originalUrl}`) : undefined;
    next?.searchParams.set('after', paging!.cursors.after);
    x.reply(200, { data, ...(paging ? { paging: { ...paging, ...(next ? { next: next.toString() } : {}) } } : {}) });
  }

  private async handle(x: Exchange): Promise<void> {
    if (this.latencyMs > 0) await new Promise((r) => setTimeout(r, this.latencyMs));
    // Queued faults are for message sends: a test counting failures should not lose one to a mark_seen.
    let fault = (x.body as { message?: unknown } | undefined)?.message !== undefined ? this.faults.shift() : undefined;
    if (!fault && this.randomFaults.errorRate + this.randomFaults.timeoutRate > 0) {
      const roll = Math.random();
      if (roll < this.randomFaults.timeoutRate) fault = { kind: 'timeout' };
      else if (roll < this.randomFaults.timeoutRate + this.randomFaults.errorRate) fault = { kind: 'error', status: 500, code: 2 };
    }
    if (fault?.kind === 'timeout') {
      this.hanging.add(x);
      return;
    }
    if (fault?.kind === 'drop') {
      x.destroy();
      return;
    }
    const token = x.token;
    if (typeof token !== 'string' || token === '') return this.error(x, 400, 2500, 'An active access token must be used to query information about the current user.');
    const flavor = this.flavors.find((f) => f.accountOf(token) !== undefined);
    const pageId = flavor?.accountOf(token) ?? this.opts.tokens?.get(token) ?? this.opts.anyTokenPage;
    if (pageId === undefined) return this.error(x, 400, 190);
    if (fault?.kind === 'error') return this.error(x, fault.status, fault.code, fault.message, fault.subcode);

    const body = (x.body ?? {}) as Record<string, unknown>;
    const recipient = body.recipient as { id?: unknown } | undefined;
    if (typeof recipient?.id !== 'string') return this.error(x, 400, 100, '(#100) The parameter recipient is required');
    const message = body.message as { text?: unknown; metadata?: unknown; attachment?: unknown; quick_replies?: unknown } | undefined;
    if (!message && typeof body.sender_action !== 'string') return this.error(x, 400, 100, '(#100) Must send either message or sender_action');
    if (message && body.sender_action !== undefined) return this.error(x, 400, 100, '(#100) sender_action cannot be sent with message');
    if (body.sender_action !== undefined && !['typing_on', 'typing_off', 'mark_seen'].includes(String(body.sender_action))) return this.error(x, 400, 100, '(#100) param sender_action must be one of {MARK_SEEN, TYPING_ON, TYPING_OFF}');
    if (message) {
      if (typeof body.messaging_type !== 'string') return this.error(x, 400, 100, '(#100) The parameter messaging_type is required');
      if (body.messaging_type === 'MESSAGE_TAG' && typeof body.tag !== 'string') return this.error(x, 400, 100, '(#100) Tag is required for MESSAGE_TAG messaging type.');
      const refused = flavor?.refuse(body);
      if (refused) return this.error(x, 400, 100, refused.message, refused.subcode);
      const notOwner = flavor ? undefined : this.threads.refuseSend(pageId, recipient.id);
      if (notOwner) return this.error(x, 400, 10, notOwner);
      const qr = this.checkQuickReplies(message.quick_replies);
      if (qr) return this.error(x, 400, 100, qr);
      if (message.text === undefined && message.attachment === undefined) return this.error(x, 400, 100, '(#100) Must send either text or attachment');
      if (typeof message.text === 'string' && message.text.length > 2000) return this.error(x, 400, 100, '(#100) Length of param message[text] must be less than or equal to 2000');
    }
    const messageId = message ? `m_${crypto.randomBytes(12).toString('base64url')}` : undefined;
    let metadata: RecordedCall['metadata'];
    if (typeof message?.metadata === 'string') {
      try {
        metadata = JSON.parse(message.metadata);
      } catch {
        /* free-form metadata */
      }
    }
    this.calls.push({
      pageId,
      recipientId: recipient.id,
      body,
      at: Date.now(),
      ...(typeof message?.text === 'string' ? { text: message.text } : {}),
      ...(metadata ? { metadata } : {}),
      ...(messageId ? { messageId } : {}),
    });
    if (fault?.kind === 'lose-response') x.destroy();
    else x.reply(200, { recipient_id: recipient.id, ...(messageId ? { message_id: messageId } : {}) });
    const echo = flavor?.webhook ?? this.opts.echo;
    if (message && messageId && echo) void this.postEcho(echo, pageId, recipient.id, messageId, message, flavor);
  }

  private async postEcho(echo: NonNullable<FakeGraphOptions['echo']>, pageId: string, userId: string, mid: string, message: { text?: unknown; metadata?: unknown }, flavor?: SendFlavor): Promise<void> {
    const now = Date.now();
    const raw = encodeLikeFacebook(
      flavor
        ? flavor.echo(pageId, userId, mid, message, now)
        : {
            object: 'page',
            entry: [
              {
                id: pageId,
                time: now,
                messaging: [{ sender: { id: pageId }, recipient: { id: userId }, timestamp: now, message: { is_echo: true, app_id: Number(this.threads.ourAppId), mid, text: message.text, metadata: message.metadata } }],
              },
            ],
          },
    );
    // Facebook retries a failed delivery (for hours); here for about 40 s, so an echo outlives
    // a gateway answering 503 through a Redis failover.
    for (let attempt = 0; attempt < 12; attempt++) {
      try {
        const status = await this.postWebhook(echo.webhookUrl, raw, { 'content-type': 'application/json', 'x-hub-signature-256': sign(raw, echo.appSecret), 'x-hub-signature': sign(raw, echo.appSecret, 'sha1') });
        if (status >= 200 && status < 300) {
          this.echoesSent++;
          return;
        }
      } catch {
        /* gateway down: retry */
      }
      await new Promise((r) => setTimeout(r, Math.min(5_000, 200 * 2 ** attempt)));
    }
  }

  private postWebhook(url: string, raw: string, headers: Record<string, string>): Promise<number> {
    return new Promise((resolve, reject) => {
      const req = http.request(url, { method: 'POST', agent: this.echoAgent, headers: { ...headers, 'content-length': Buffer.byteLength(raw) } }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(raw);
    });
  }
}
