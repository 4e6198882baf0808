/**
 * Web chat visitors driven from Node, for the emulator, tests and the bench: each runs the
 * widget's own client (src/channels/webchat/widget/client.js, the code the browser runs) over
 * the `ws` package, so what it holds is exactly what the widget would display. Web chat is our
 * own platform, so there is no outside API to fake: this is the visitor's side of it.
 *
 * The emulator's API: `send(visitor, text)` (a message as the widget sends it) and
 * `transcript(visitor)` (what that visitor's widget shows: their messages and the replies).
 */
import crypto from 'node:crypto';
import path from 'node:path';
import WebSocket from 'ws';

/** A transcript entry as the widget holds it. */
export interface ShownEntry {
  id: string;
  e: { f: 'visitor' | 'bot' | 'agent'; cid?: string; text?: string; kind?: string; payload?: string; body?: { text?: string; quickReplies?: unknown[]; buttons?: unknown[]; attachment?: unknown }; re?: string; n?: number; rid?: string };
}

/** The widget client's surface (client.js is plain JS: this is its contract). */
export interface WidgetClient {
  entries: ShownEntry[];
  outbox: { cid: string; text: string; acked?: boolean }[];
  status: 'idle' | 'connecting' | 'reconnecting' | 'online' | 'failed';
  visitor: string | null;
  error: string | null;
  seenCid: string | null;
  typing: { by: string } | null;
  delivered?: Record<string, boolean>;
  lastError?: { code: string; message: string; id?: string; retryMs?: number };
  ws: WebSocket | null;
  connect(): void;
  send(text: string, kind?: string, payload?: string): string | null;
  resend(cid: string): void;
  setTyping(on: boolean): void;
  setVisible(visible: boolean): void;
  /** The last entry the bot or an agent has seen (visitor messages up to it show ✓✓), -1 if none. */
  seenUpTo(): number;
  stop(): void;
}

export interface ClientModule {
  WebchatClient: new (opts: Record<string, unknown>) => WidgetClient;
  compareIds(a: string, b: string): number;
}

export type WidgetOptions = Record<string, unknown>;
const widget = require(path.join(__dirname, '..', 'channels', 'webchat', 'widget', 'client.js')) as ClientModule;
export const compareIds = widget.compareIds;
/** The widget's client constructor, for tests that drive it over a fake socket. */
export const WebchatClient = widget.WebchatClient;

export interface VisitorOptions {
  /** The gateway (or a proxy in front of it): http://host:port. */
  baseUrl: string;
  site: string;
  /** The Origin the socket sends: the site's page (a widget of the site's own code) or the gateway's own (our frame). */
  origin: string;
  /** The page that embeds our frame, when `origin` is the gateway's own. */
  embeddedIn?: string;
  identity?: { userId: string; userHash: string };
  /** Survives `restart()` (a reload): the token (all tabs) and unacknowledged messages (this tab). */
  tokenStore?: Map<string, string>;
  onChange?: (c: WidgetClient) => void;
}

const mapStore = (m: Map<string, string>) => ({ get: (k: string) => m.get(k), set: (k: string, v: string) => void m.set(k, v) });

/** One widget (one tab) in Node. */
export function nodeWidget(o: VisitorOptions): WidgetClient & { tokens: Map<string, string> } {
  const tokens = o.tokenStore ?? new Map<string, string>();
  const origin = o.origin;
  class OriginSocket extends WebSocket {
    constructor(url: string) {
      super(url, { origin });
    }
  }
  const client = new widget.WebchatClient({
    url: `${o.baseUrl.replace(/^http/, 'ws')}/webchat/ws?account=${encodeURIComponent(o.site)}`,
    origin: o.embeddedIn ?? origin,
    ...(o.identity ? { identity: o.identity } : {}),
    tokenStore: mapStore(tokens),
    outboxStore: mapStore(new Map()),
    WebSocket: OriginSocket,
    crypto,
    ...(o.onChange ? { onChange: o.onChange } : {}),
  });
  return Object.assign(client, { tokens });
}

/** The visitors the emulator plays, by name. */
export class FakeWebchat {
  private readonly visitors = new Map<string, WidgetClient>();

  constructor(private readonly o: Omit<VisitorOptions, 'identity' | 'tokenStore' | 'onChange'>) {}

  private of(name: string): WidgetClient {
    let v = this.visitors.get(name);
    if (!v) {
      v = nodeWidget(this.o);
      v.connect();
      this.visitors.set(name, v);
    }
    return v;
  }

  /** Sends a message as `name`'s widget would; returns its client id. */
  send(name: string, text: string): string {
    return this.of(name).send(text) ?? crypto.randomUUID();
  }

  /** What `name`'s widget shows: messages and replies, in order. */
  transcript(name: string): { id: string; from: string; text?: string }[] {
    return (this.visitors.get(name)?.entries ?? []).map((x) => ({ id: x.id, from: x.e.f, ...((x.e.text ?? x.e.body?.text) ? { text: x.e.text ?? x.e.body?.text } : {}) }));
  }

  close(): void {
    for (const v of this.visitors.values()) v.stop();
    this.visitors.clear();
  }
}
