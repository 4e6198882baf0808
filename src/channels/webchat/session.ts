/**
 * One widget's socket on a gateway: the hello (who the visitor is, where to resume), then the
 * visitor's frames, handled one after the other in the order they came. A message is written
 * to the transcript, then queued through `ingest` (the webhooks' path, deduplicated by id),
 * and only then acknowledged: a message the widget saw acknowledged is durably queued, and a
 * widget resends whatever was not acknowledged — the transcript and the queue drop repeats.
 */
import crypto from 'node:crypto';
import type WebSocket from 'ws';
import type { Logger } from '../../log';
import { QueueFullError } from '../../queue/errors';
import type { Metrics } from '../../metrics';
import { conversationKey, type ConversationRef } from '../conversation';
import type { InboundEvent, ParseResult } from '../event';
import { WEBCHAT } from './channel';
import type { Hub, Member } from './hub';
import { CLOSE, FrameError, LIMITS, parseFrame, PROTOCOL_VERSION, type ClientFrame, type VisitorEntry } from './protocol';
import { originAllowed, type WebchatSite } from './sites';
import { compareIds, type WebchatStore } from './store';
import { verifyIdentity, type Visitor, type VisitorTokens } from './tokens';

export interface SessionDeps {
  hub: Hub;
  store: WebchatStore;
  tokens: VisitorTokens;
  logger: Logger;
  metrics: Metrics;
  /** Queues parsed events durably (the gateway's ingest); rejects if Redis could not take them. */
  ingest(parsed: ParseResult): Promise<unknown>;
  /** A delivery or read receipt of replies (their ids), for the chatlog. */
  receipt(to: ConversationRef, kind: 'delivery' | 'read', mids: string[]): void;
}

type Msg = Extract<ClientFrame, { t: 'msg' }>;
type Hello = Extract<ClientFrame, { t: 'hello' }>;

export class Session implements Member {
  readonly id = crypto.randomBytes(6).toString('base64url');
  readonly member: string;
  conversation = '';
  cursor = '0-0';
  private visitor?: Visitor;
  private chain: Promise<void> = Promise.resolve();
  private badFrames = 0;
  private closed = false;
  private joined = false;
  private readonly helloTimer: NodeJS.Timeout;
  /** Replies sent to this socket and not yet acknowledged as shown (read), in entry order: entry id -> reply id. */
  private readonly undelivered = new Map<string, string>();
  private readonly unread = new Map<string, string>();
  private typing = false;

  /** `embedded`: the socket comes from our own frame (its Origin is ours); the page it is embedded in is then told in hello. */
  constructor(
    private readonly ws: WebSocket,
    private readonly site: WebchatSite,
    private readonly embedded: boolean,
    private readonly d: SessionDeps,
  ) {
    this.member = `${d.hub.gatewayId}|${this.id}`;
    this.helloTimer = setTimeout(() => this.close(CLOSE.unauthorized, 'no hello within 10 s'), LIMITS.helloTimeoutMs);
    ws.on('message', (data, isBinary) => {
      const raw = isBinary ? undefined : data.toString();
      this.chain = this.chain
        .then(() => this.handle(raw))
        .catch((err) => {
          this.d.logger.error({ err, conversation: this.conversation }, 'web chat frame failed');
          this.close(CLOSE.internal, 'internal error');
        });
    });
    ws.on('close', () => void this.closedByPeer());
    ws.on('error', (err) => this.d.logger.debug({ err: err.message }, 'web chat socket error'));
  }

  send(frame: string): void {
    if (!this.closed && this.ws.readyState === this.ws.OPEN) this.ws.send(frame);
  }

  sent(id: string, json: string): void {
    // Only replies get receipts; the rid lets the chatlog find the reply's row.
    const rid = /"rid":"([^"]+)"/.exec(json)?.[1];
    if (!rid) return;
    for (const pending of [this.undelivered, this.unread]) {
      pending.set(id, rid);
      if (pending.size > 1_000) pending.delete(pending.keys().next().value!);
    }
  }

  close(code: number, reason: string): void {
    if (this.closed) return;
    this.closed = true; // frames still arriving are ignored
    this.ws.close(code, reason);
  }

  private get ref(): ConversationRef {
    return { channel: WEBCHAT, account: this.site.id, user: this.visitor!.user };
  }

  private async handle(raw: string | undefined): Promise<void> {
    if (this.closed) return;
    let f: ClientFrame;
    try {
      if (raw === undefined) throw new FrameError('frames must be text (JSON), not binary');
      f = parseFrame(raw);
      if (f.t !== 'hello' && !this.visitor) throw new FrameError('say hello first: {"t":"hello",…}', 'no_hello');
      if (f.t === 'hello' && this.visitor) throw new FrameError('hello already received on this socket');
    } catch (err) {
      if (!(err instanceof FrameError)) throw err;
      return this.refuse(err);
    }
    switch (f.t) {
      case 'hello':
        return this.hello(f).catch((err) => {
          this.d.logger.warn({ err, site: this.site.id }, 'web chat hello not answered: redis unavailable; the widget reconnects');
          this.close(CLOSE.unavailable, 'service unavailable: reconnect shortly');
        });
      case 'msg':
        return this.message(f);
      case 'ack':
      case 'read':
        return this.acknowledge(f.t, f.id);
      case 'typing':
        return this.setTyping(f.on);
      case 'ping':
        return this.send('{"t":"pong"}');
    }
  }

  private refuse(err: FrameError): void {
    this.d.metrics.webchatFrames.inc({ type: 'unknown', outcome: 'bad_frame' });
    this.send(JSON.stringify({ t: 'error', code: err.code, message: err.message }));
    if (++this.badFrames >= LIMITS.badFrames) this.close(CLOSE.badFrames, `more than ${LIMITS.badFrames - 1} bad frames`);
  }

  private who(f: Hello): { visitor: Visitor; token: string } | { error: string } {
    const { tokens } = this.d;
    if (f.identity) {
      const r = verifyIdentity(this.site, f.identity.userId, f.identity.userHash);
      return 'error' in r ? r : { visitor: r.visitor, token: tokens.issue(r.visitor) };
    }
    if (f.token !== undefined) {
      const r = tokens.verify(f.token, this.site.id);
      return 'error' in r ? r : { visitor: r.visitor, token: f.token };
    }
    return tokens.anonymous(this.site.id);
  }

  private async hello(f: Hello): Promise<void> {
    const { store, hub, metrics } = this.d;
    clearTimeout(this.helloTimer);
    if (this.embedded && !originAllowed(f.origin, this.site.origins)) {
      metrics.webchatConnections.inc({ result: 'origin' });
      return this.close(CLOSE.origin, `site ${this.site.id} does not allow the widget on ${f.origin ?? 'an unnamed page'}`.slice(0, 120));
    }
    const who = this.who(f);
    if ('error' in who) {
      metrics.webchatConnections.inc({ result: 'unauthorized' });
      return this.close(CLOSE.unauthorized, who.error.slice(0, 120));
    }
    this.visitor = who.visitor;
    this.conversation = conversationKey(this.ref);
    const lease = await store.connect(this.conversation, this.member, LIMITS.connectionsPerVisitor);
    if (!lease.ok) {
      metrics.webchatConnections.inc({ result: 'too_many' });
      return this.close(CLOSE.tooManyConnections, `at most ${LIMITS.connectionsPerVisitor} open sockets per visitor`);
    }
    const start = f.after !== undefined ? { from: f.after, truncated: false } : await store.startOf(this.conversation, LIMITS.history);
    const seen = await store.mark(this.conversation, 'seen');
    this.cursor = start.from;
    if (this.closed) return void store.disconnect(this.conversation, this.member).catch(() => undefined);
    this.send(
      JSON.stringify({
        t: 'welcome',
        v: PROTOCOL_VERSION,
        site: this.site.name ?? this.site.id,
        visitor: who.visitor.user,
        identified: who.visitor.identified,
        token: who.token,
        from: start.from,
        truncated: start.truncated,
        seen: seen ?? null,
        limits: { maxText: LIMITS.maxText, messagesPerWindow: LIMITS.messagesPerWindow, windowMs: LIMITS.windowMs },
      }),
    );
    this.joined = true;
    hub.join(this);
    metrics.webchatSockets.inc();
    metrics.webchatConnections.inc({ result: 'ok' });
    if (lease.before === 0) void this.presence(1);
  }

  private async message(f: Msg): Promise<void> {
    const { store, metrics } = this.d;
    const entry: VisitorEntry = { f: 'visitor', cid: f.id, kind: f.kind, text: f.text, ...(f.payload !== undefined ? { payload: f.payload } : {}) };
    const receivedAt = Date.now();
    let written;
    try {
      written = await store.appendVisitor(this.conversation, f.id, JSON.stringify(entry), { limit: LIMITS.messagesPerWindow, windowMs: LIMITS.windowMs });
      if (written.kind === 'rate') {
        metrics.webchatFrames.inc({ type: 'msg', outcome: 'rate_limited' });
        return this.send(JSON.stringify({ t: 'error', code: 'rate_limited', id: f.id, retryMs: written.retryMs, message: `at most ${LIMITS.messagesPerWindow} messages a minute: sent again in ${Math.ceil(written.retryMs / 1000)} s` }));
      }
      // Every tab of the visitor shows it at once (this one included: the entry comes back in order).
      this.d.hub.wake(this.conversation, written.gateways);
      // A repeat is queued again too: its first attempt may have died between the transcript and the queue (the queue drops a repeat).
      const event: InboundEvent = {
        id: `${this.visitor!.user}.${f.id}`,
        mid: f.id,
        kind: f.kind,
        ...this.ref,
        timestamp: written.ms,
        text: f.text,
        ...(f.payload !== undefined ? { payload: f.payload } : {}),
        ...(f.kind === 'postback' ? { title: f.text } : {}),
        receivedAt,
      };
      await this.d.ingest({ events: [{ event, queue: true }], unknown: [] });
    } catch (err) {
      // Not acknowledged: the widget sends it again (the transcript and the queue drop what they have).
      const full = err instanceof QueueFullError;
      metrics.webchatFrames.inc({ type: 'msg', outcome: full ? 'queue_full' : 'unavailable' });
      this.d.logger.warn({ err, conversation: this.conversation }, full ? 'web chat message refused: the conversation queue is full (QUEUE_OVERFLOW_MAX)' : 'web chat message not queued: redis unavailable');
      return this.send(JSON.stringify({ t: 'error', code: 'unavailable', id: f.id, retryMs: full ? 5_000 : 2_000, message: 'not queued (service busy or unavailable): sent again shortly' }));
    }
    metrics.webchatFrames.inc({ type: 'msg', outcome: written.kind === 'duplicate' ? 'duplicate' : 'ok' });
    this.send(JSON.stringify({ t: 'ack', id: f.id }));
    if (this.typing) await this.setTyping(false);
  }

  /** The widget showed (ack) or the visitor read (read) everything up to `id`: receipts for the replies among it. */
  private async acknowledge(kind: 'ack' | 'read', id: string): Promise<void> {
    const pending = kind === 'ack' ? this.undelivered : this.unread;
    const mids: string[] = [];
    for (const [entry, rid] of pending) {
      if (compareIds(entry, id) > 0) break; // in entry order
      mids.push(rid);
      pending.delete(entry);
    }
    if (!mids.length) return;
    // Another tab may have acknowledged them already: only the first tab's receipt counts.
    const moved = await this.d.store.advance(this.conversation, kind === 'ack' ? 'delivered' : 'read', id).catch(() => undefined);
    if (moved !== undefined) this.d.receipt(this.ref, kind === 'ack' ? 'delivery' : 'read', mids);
  }

  /** Typing lasts a few seconds in Redis unless the widget says so again; a change is published. */
  private async setTyping(on: boolean): Promise<void> {
    const changed = on !== this.typing;
    this.typing = on;
    if (!changed && !on) return;
    await this.d.store.setTyping(this.conversation, on).catch(() => undefined);
    if (changed) await this.presence();
  }

  private async presence(known?: number): Promise<void> {
    const connections = known ?? (await this.d.store.presence(this.conversation).catch(() => ({ connections: 0 }))).connections;
    await this.d.hub.publishPresence({ ...this.ref, online: connections > 0, typing: this.typing && !this.closed, connections, at: Date.now() });
  }

  private async closedByPeer(): Promise<void> {
    this.closed = true;
    clearTimeout(this.helloTimer);
    if (!this.joined) return;
    this.d.hub.leave(this);
    this.d.metrics.webchatSockets.dec();
    const { store } = this.d;
    try {
      if (this.typing) await store.setTyping(this.conversation, false);
      const left = await store.disconnect(this.conversation, this.member);
      if (left === 0 || this.typing) await this.presence(left);
    } catch (err) {
      this.d.logger.debug({ err }, 'web chat socket lease not released (it expires by itself)');
    }
  }
}
