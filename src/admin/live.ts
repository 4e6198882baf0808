/**
 * Live updates for the admin app: one poller per gateway process reads the messages the
 * chatlog wrote since the last look and fans them out to the open streams, each filtered by
 * its user's accounts. It runs only while someone is watching. Each stream's session is checked
 * again at every keep-alive: a stream whose session ended (signed out on another gateway,
 * user removed or changed in ADMIN_USERS_FILE) is told why and closed; a sign-out on this
 * gateway closes its streams at once.
 *
 * Ids are handed out when a row is inserted, not when its transaction commits: two chatlog
 * consumers can commit ids 7 and 8 in the order 8, 7. A poll that saw 8 without 7 remembers
 * 7 as a gap and looks for it again on every poll for GAP_WAIT_MS, long enough for any
 * chatlog transaction, after which it counts as a sequence value never used (a rollback).
 */
import type { Response } from 'express';
import { lastMessageId, messagesAfter, messagesWithIds, type LiveMessage } from '../chatlog/queries';
import type { SqlRunner } from '../chatlog/sql';
import type { Logger } from '../log';
import { conversationKey } from '../channels/conversation';
import type { InboxBus, InboxEvent } from '../inbox/events';
import { canSee, type Principal } from './users';

const GAP_WAIT_MS = 10_000;
/** Keep-alive comment and session check of each stream. */
const KEEPALIVE_MS = 5_000;
/** Gaps remembered at most (a rolled-back batch of thousands is not worth more). */
const MAX_GAPS = 5_000;

interface Watcher {
  principal: Principal;
  res: Response;
  /** The bearer token of the stream (this process only: never logged nor stored). */
  token: string;
}

/** Why a stream's session is no longer valid, or undefined while it is. */
export type SessionCheck = () => Promise<string | undefined>;

export class LiveFeed {
  private readonly watchers = new Set<Watcher>();
  private timer?: NodeJS.Timeout;
  private last?: string;
  /** Ids below `last` not seen yet, with when they were first missed. */
  private readonly gaps = new Map<string, number>();
  private busy = false;

  private unsubscribe?: Promise<() => void>;

  constructor(
    private readonly db: SqlRunner,
    private readonly logger: Logger,
    private readonly everyMs = 1_000,
    private readonly keepAliveMs = KEEPALIVE_MS,
    private readonly bus?: InboxBus,
  ) {}

  /** Inbox events (status changes, presence, typing) as they happen, to the streams allowed to see them. */
  private onInbox = (e: InboxEvent): void => {
    const data = `event: inbox\ndata: ${JSON.stringify(e)}\n\n`;
    for (const w of this.watchers) {
      const p = w.principal;
      const visible = e.type === 'presence' ? !p.accounts || e.accounts === '*' || p.accounts.some((k) => e.accounts.includes(k)) : canSee(p, e.channel, e.account);
      if (visible) w.res.write(data);
    }
  };

  /** Streams server-sent events to `res` until the client goes away or its session ends. */
  async watch(principal: Principal, res: Response, token: string, ended: SessionCheck): Promise<void> {
    // Start from what exists when the first watcher arrives: everything after is news to it.
    if (this.last === undefined) this.last = await lastMessageId(this.db);
    res.status(200).set({ 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', 'x-accel-buffering': 'no' });
    res.flushHeaders();
    res.write(': live\n\n');
    const w = { principal, res, token };
    this.watchers.add(w);
    const keepAlive = setInterval(() => {
      ended().then(
        (why) => (why ? this.close(w, why) : void res.write(': ping\n\n')),
        (err) => this.logger.warn({ err }, 'live feed: session not checked (redis unavailable): stream kept until the next keep-alive'),
      );
    }, this.keepAliveMs);
    res.on('close', () => {
      clearInterval(keepAlive);
      this.watchers.delete(w);
      if (this.watchers.size === 0) this.pause();
    });
    this.timer ??= setInterval(() => void this.poll(), this.everyMs);
    this.unsubscribe ??= this.bus?.on(this.onInbox).catch((err) => {
      this.logger.warn({ err }, 'live feed: inbox events not subscribed (redis unavailable): the app polls instead');
      this.unsubscribe = undefined;
      return () => undefined;
    });
  }

  /** Ends the streams of a session that signed out here. */
  endSession(token: string, why = 'signed out'): void {
    for (const w of this.watchers) if (w.token === token) this.close(w, why);
  }

  private close(w: Watcher, why: string): void {
    w.res.write(`event: ended\ndata: ${JSON.stringify({ error: why })}\n\n`);
    w.res.end();
  }

  /** Streams an event of another kind (`presence`) to every open stream whose user may see it. */
  broadcast(event: string, data: unknown, visible: (p: Principal) => boolean): void {
    const text = `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
    for (const w of this.watchers) if (visible(w.principal)) w.res.write(text);
  }

  private pause(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.last = undefined; // the next watcher starts from "now"
    this.gaps.clear();
  }

  stop(): void {
    for (const w of this.watchers) w.res.end();
    this.pause();
    void this.unsubscribe?.then((off) => off());
    this.bus?.close();
  }

  private async poll(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      this.last ??= await lastMessageId(this.db);
      const rows = [...(await this.lateRows()), ...(await this.newRows())];
      if (!rows.length) return;
      for (const w of this.watchers) {
        const mine = rows.filter((r) => canSee(w.principal, r.channel, r.accountId));
        if (mine.length) w.res.write(`event: messages\ndata: ${JSON.stringify(mine.map((r) => ({ ...r, key: conversationKey({ channel: r.channel, account: r.accountId, user: r.userId }) })))}\n\n`);
      }
    } catch (err) {
      this.logger.warn({ err }, 'live feed poll failed: retrying');
    } finally {
      this.busy = false;
    }
  }

  /** Rows after `last`; ids skipped on the way become gaps. */
  private async newRows(): Promise<LiveMessage[]> {
    const rows = await messagesAfter(this.db, this.last!);
    const now = Date.now();
    let expected = BigInt(this.last!) + 1n;
    for (const r of rows) {
      for (let id = BigInt(r.id); expected < id && this.gaps.size < MAX_GAPS; expected++) this.gaps.set(String(expected), now);
      expected = BigInt(r.id) + 1n;
    }
    if (rows.length) this.last = rows[rows.length - 1]!.id;
    return rows;
  }

  /** Gap rows committed since, and gaps given up on. */
  private async lateRows(): Promise<LiveMessage[]> {
    if (this.gaps.size === 0) return [];
    const rows = await messagesWithIds(this.db, [...this.gaps.keys()]);
    for (const r of rows) this.gaps.delete(r.id);
    const expired = Date.now() - GAP_WAIT_MS;
    for (const [id, at] of this.gaps) if (at < expired) this.gaps.delete(id);
    return rows;
  }
}
