/**
 * One gateway's open web chat sockets, grouped by conversation, and how transcript entries
 * reach them: in order, each once, without a gap. Each socket has a cursor (the last entry it
 * was sent); a conversation's "pump" reads the transcript after the smallest cursor of its
 * sockets and sends every socket what lies past its own — the same code serves history on
 * open, a resume after a reconnect, and live replies. Pumps of one conversation never overlap.
 *
 * How a gateway learns of a new entry: the worker that wrote it publishes a note on the
 * channel of each gateway holding a socket of the visitor (reply-4.lua returns them, from the
 * sockets' leases). Why pub/sub and not XREAD BLOCK: a blocked XREAD holds its connection, and
 * on a cluster one XREAD cannot span the slots of many conversations, so thousands of open
 * conversations would need thousands of blocked connections; here each gateway subscribes to
 * one channel. Pub/sub does not keep messages, so it only wakes: the transcript stays the
 * truth, and every pump reads it from the cursors — a lost note delays an entry until its
 * conversation is swept (within about a minute, see `renew`) or the subscriber reconnects; it
 * never loses or reorders one. On a cluster, classic PUBLISH
 * is relayed to every node (fine for chat volumes; sharded pub/sub would keep it to one node).
 */
import crypto from 'node:crypto';
import { Cluster } from 'ioredis';
import type { Logger } from '../../log';
import type { Metrics } from '../../metrics';
import type { RedisClient } from '../../queue/redis';
import type { PresenceChange } from '../presence';
import type { GatewayNote } from './channel';
import { entryFrame } from './protocol';
import { compareIds, LEASE_MS, type WebchatStore } from './store';

/** A socket as the hub sees it. */
export interface Member {
  readonly conversation: string;
  /** `<gateway id>|<socket id>`: its lease in the visitor's socket set. */
  readonly member: string;
  /** The last transcript entry sent to it. */
  cursor: string;
  send(frame: string): void;
  /** An entry was sent (for delivery receipts). */
  sent(id: string, json: string): void;
}

interface Room {
  members: Set<Member>;
  busy: boolean;
  again: boolean;
  /** When its transcript was last read (ms). */
  readAt: number;
}

/** Leases are renewed this often. */
export const RENEW_MS = LEASE_MS / 3;
/** A conversation not read for this long is read again at a renewal round (a note may have been lost), a share of them each round. */
const SWEEP_MS = 60_000;
const READ_BATCH = 200;

export class Hub {
  readonly gatewayId = crypto.randomBytes(6).toString('hex');
  private readonly rooms = new Map<string, Room>();
  private readonly listeners = new Set<(c: PresenceChange) => void>();
  private sub?: RedisClient;
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly store: WebchatStore,
    private readonly logger: Logger,
    private readonly metrics: Metrics,
  ) {}

  async start(): Promise<void> {
    const redis = this.store.redis;
    // A connection of its own (a subscribed connection runs no other command); subscriptions
    // wait in its queue until it is ready, and ioredis renews them after a reconnect.
    this.sub = redis instanceof Cluster ? redis.duplicate([], { enableOfflineQueue: true }) : redis.duplicate({ enableOfflineQueue: true, connectionName: 'cb-webchat-sub' });
    this.sub.on('error', (err: Error) => this.logger.debug({ err: err.message }, 'web chat subscriber connection error'));
    this.sub.on('message', (channel: string, message: string) => this.onNote(channel, message));
    // After a reconnect, notes sent meanwhile are gone: read every conversation again.
    let first = true;
    this.sub.on('ready', () => {
      if (!first) this.wakeAll();
      first = false;
    });
    await this.sub.subscribe(this.store.gatewayChannel(this.gatewayId), this.store.presenceChannel);
    this.timer = setInterval(() => void this.renew(), RENEW_MS);
    this.timer.unref();
  }

  get sockets(): number {
    let n = 0;
    for (const r of this.rooms.values()) n += r.members.size;
    return n;
  }

  join(m: Member): void {
    let room = this.rooms.get(m.conversation);
    if (!room) this.rooms.set(m.conversation, (room = { members: new Set(), busy: false, again: false, readAt: 0 }));
    room.members.add(m);
    void this.pump(m.conversation);
  }

  leave(m: Member): void {
    const room = this.rooms.get(m.conversation);
    if (!room) return;
    room.members.delete(m);
    if (room.members.size === 0 && !room.busy) this.rooms.delete(m.conversation);
  }

  /** New entries in a conversation's transcript: this gateway reads it now, the others are woken over pub/sub. */
  wake(conversation: string, gateways: readonly string[]): void {
    const note = JSON.stringify({ c: conversation, k: 'e' });
    for (const g of gateways) {
      if (g === this.gatewayId) void this.pump(conversation);
      else void this.store.redis.publish(this.store.gatewayChannel(g), note).catch((err) => this.logger.debug({ err, gateway: g }, 'web chat gateway not woken (it sweeps)'));
    }
  }

  /** Sends a frame to every socket of a conversation on this gateway. */
  broadcast(conversation: string, frame: string): void {
    for (const m of this.rooms.get(conversation)?.members ?? []) m.send(frame);
  }

  onPresence(fn: (c: PresenceChange) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  async publishPresence(change: PresenceChange): Promise<void> {
    await this.store.redis.publish(this.store.presenceChannel, JSON.stringify(change)).catch((err) => this.logger.debug({ err }, 'presence change not published'));
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.sub?.quit().catch(() => this.sub?.disconnect());
  }

  private onNote(channel: string, message: string): void {
    let note: (GatewayNote & Partial<PresenceChange>) | undefined;
    try {
      note = JSON.parse(message);
    } catch {
      return;
    }
    if (channel === this.store.presenceChannel) {
      for (const fn of this.listeners) fn(note as unknown as PresenceChange);
      return;
    }
    if (!note || typeof note.c !== 'string') return;
    if (note.k === 'e') void this.pump(note.c);
    else if (note.k === 'typing') this.broadcast(note.c, JSON.stringify({ t: 'typing', on: note.on, by: note.by }));
    else if (note.k === 'seen') this.broadcast(note.c, JSON.stringify({ t: 'seen', cid: note.cid }));
  }

  private wakeAll(): void {
    for (const c of this.rooms.keys()) void this.pump(c);
  }

  /**
   * Renews the leases of every socket here, then reads again the conversations not read for a
   * minute (a note may have been lost): at most a quarter of the rooms a round, so that ten
   * thousand idle sockets do not turn into one burst of reads.
   */
  private async renew(): Promise<void> {
    const members = [...this.rooms.values()].flatMap((r) => [...r.members]);
    await this.store.renew(members).catch((err) => this.logger.warn({ err }, 'web chat socket leases not renewed: redis unavailable'));
    const due = Date.now() - SWEEP_MS;
    let budget = Math.max(100, Math.ceil(this.rooms.size / 4));
    for (const [c, room] of this.rooms) {
      if (budget <= 0) break;
      if (room.readAt > due) continue;
      budget--;
      void this.pump(c);
    }
  }

  private async pump(conversation: string): Promise<void> {
    const room = this.rooms.get(conversation);
    if (!room) return;
    if (room.busy) {
      room.again = true;
      return;
    }
    room.busy = true;
    try {
      do {
        room.again = false;
        if (room.members.size === 0) break;
        let from: string | undefined;
        for (const m of room.members) if (from === undefined || compareIds(m.cursor, from) < 0) from = m.cursor;
        const rows = await this.store.read(conversation, from!, READ_BATCH);
        room.readAt = Date.now();
        for (const [id, json] of rows) {
          const frame = entryFrame(id, json);
          for (const m of room.members) {
            if (compareIds(id, m.cursor) <= 0) continue;
            m.cursor = id;
            m.send(frame);
            m.sent(id, json);
            this.metrics.webchatPushed.inc();
          }
        }
        if (rows.length === READ_BATCH) room.again = true;
      } while (room.again);
    } catch (err) {
      this.logger.warn({ err, conversation }, 'web chat transcript not read: redis unavailable (read again at the next renewal)');
    } finally {
      room.busy = false;
      if (room.members.size === 0) this.rooms.delete(conversation);
    }
  }
}
