/**
 * The web chat side of a gateway: HTTP upgrades to /webchat/ws (site and Origin checked before
 * the upgrade), the sockets (one `Session` each, grouped by the `Hub`), receipts for the
 * chatlog, the visitors' presence for the admin console, and a drain that tells every widget
 * to reconnect elsewhere. Widgets get no cookies and no ambient credentials: a socket is only
 * as good as the visitor token it presents in its hello.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import type { ReceiptRecord } from '../../chatlog/records';
import type { Logger } from '../../log';
import type { Metrics } from '../../metrics';
import { conversationKey, type ConversationRef } from '../conversation';
import type { ParseResult } from '../event';
import type { PresenceChange, PresenceSource, UserPresence } from '../presence';
import { WEBCHAT } from './channel';
import { Hub } from './hub';
import { CLOSE, LIMITS } from './protocol';
import { Session } from './session';
import { originAllowed, type WebchatSite } from './sites';
import type { WebchatStore } from './store';
import { VisitorTokens } from './tokens';

export const WS_PATH = '/webchat/ws';
const PING_MS = 30_000;
const RECEIPT_FLUSH_MS = 2_000;

export interface WebchatGatewayDeps {
  sites: ReadonlyMap<string, WebchatSite>;
  store: WebchatStore;
  logger: Logger;
  metrics: Metrics;
  ingest(parsed: ParseResult): Promise<unknown>;
  /** Appends receipts to the chatlog stream. */
  record(receipts: ReceiptRecord[]): Promise<void>;
}

function refuse(socket: Duplex, status: number, message: string): void {
  const body = JSON.stringify({ error: message });
  socket.end(
    `HTTP/1.1 ${status} ${status === 403 ? 'Forbidden' : status === 404 ? 'Not Found' : status === 503 ? 'Service Unavailable' : 'Bad Request'}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
  );
}

/** The Origin is this server's own: the socket comes from our frame (served from here). */
function ownOrigin(origin: string | undefined, host: string | undefined): boolean {
  if (!origin || !host) return false;
  try {
    return new URL(origin).host === host.toLowerCase();
  } catch {
    return false;
  }
}

export class WebchatGateway implements PresenceSource {
  readonly channels: ReadonlySet<string> = new Set([WEBCHAT]);
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: LIMITS.maxFrameBytes, perMessageDeflate: false });
  private readonly hub: Hub;
  private tokens?: VisitorTokens;
  private draining = false;
  private pinger?: NodeJS.Timeout;
  private flusher?: NodeJS.Timeout;
  private receipts: ReceiptRecord[] = [];
  private readonly alive = new WeakSet<object>();

  constructor(private readonly d: WebchatGatewayDeps) {
    this.hub = new Hub(d.store, d.logger, d.metrics);
  }

  get gatewayId(): string {
    return this.hub.gatewayId;
  }

  /** Sockets open here (after hello). */
  get sockets(): number {
    return this.hub.sockets;
  }

  async start(): Promise<void> {
    this.tokens = new VisitorTokens(await this.d.store.tokenKey());
    await this.hub.start();
    // Sockets whose peer vanished (no close, no pong) are ended, so their leases go too.
    this.pinger = setInterval(() => {
      for (const ws of this.wss.clients) {
        if (!this.alive.has(ws)) ws.terminate();
        else {
          this.alive.delete(ws);
          ws.ping();
        }
      }
    }, PING_MS);
    this.pinger.unref();
    this.flusher = setInterval(() => void this.flush(), RECEIPT_FLUSH_MS);
    this.flusher.unref();
  }

  /** Handles an HTTP upgrade if it is ours (returns false otherwise). */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): boolean {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname.toLowerCase().replace(/\/$/, '') !== WS_PATH) return false;
    const { metrics } = this.d;
    const account = url.searchParams.get('account');
    const site = account ? this.d.sites.get(account) : undefined;
    if (!account) return (metrics.webchatConnections.inc({ result: 'bad_request' }), refuse(socket, 400, 'account is required: /webchat/ws?account=<site id>'), true);
    if (!site) return (metrics.webchatConnections.inc({ result: 'unknown_site' }), refuse(socket, 404, `no web chat site ${account}`), true);
    const origin = req.headers.origin;
    const embedded = ownOrigin(origin, req.headers.host);
    if (!embedded && !originAllowed(origin, site.origins)) {
      metrics.webchatConnections.inc({ result: 'origin' });
      this.d.logger.warn({ site: site.id, origin }, 'web chat socket refused: origin not allowed for the site');
      refuse(socket, 403, `origin ${origin ?? '(none)'} is not allowed for site ${site.id}`);
      return true;
    }
    if (this.draining || !this.tokens) return (metrics.webchatConnections.inc({ result: 'draining' }), refuse(socket, 503, 'gateway restarting: connect again'), true);
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      this.alive.add(ws);
      ws.on('pong', () => this.alive.add(ws));
      new Session(ws, site, embedded, {
        hub: this.hub,
        store: this.d.store,
        tokens: this.tokens!,
        logger: this.d.logger,
        metrics: this.d.metrics,
        ingest: this.d.ingest,
        receipt: (to, kind, mids) => this.receipts.push({ t: 'receipt', ...to, kind, mids, at: Date.now() }),
      });
    });
    return true;
  }

  // ---- presence, for the admin console ----

  async get(c: ConversationRef): Promise<UserPresence> {
    const p = await this.d.store.presence(conversationKey(c));
    return { online: p.connections > 0, typing: p.typing, connections: p.connections };
  }

  subscribe(fn: (change: PresenceChange) => void): () => void {
    return this.hub.onPresence(fn);
  }

  /** Receipts go out in batches a little after the acks, so that the reply rows they update are usually written first. */
  private async flush(): Promise<void> {
    if (!this.receipts.length) return;
    const batch = this.receipts;
    this.receipts = [];
    await this.d.record(batch).catch((err) => this.d.logger.debug({ err }, 'web chat receipts not recorded (cosmetic: delivered/read times)'));
  }

  /** Tells every widget to reconnect (another gateway answers), then stops. */
  async stop(): Promise<void> {
    this.draining = true;
    clearInterval(this.pinger);
    clearInterval(this.flusher);
    const closed = [...this.wss.clients].map(
      (ws) =>
        new Promise<void>((resolve) => {
          ws.once('close', () => resolve());
          ws.close(CLOSE.restart, 'gateway restarting');
          setTimeout(() => {
            ws.terminate();
            resolve();
          }, 2_000).unref();
        }),
    );
    await Promise.all(closed);
    await this.flush();
    await this.hub.stop();
    this.wss.close();
  }
}
