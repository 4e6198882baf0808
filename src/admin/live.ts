/**
 * Live updates for the admin app: one poller per gateway process reads the messages the
 * chatlog wrote since the last look and fans them out to the open streams, each filtered by
 * its user's pages. It runs only while someone is watching.
 */
import type { Response } from 'express';
import { lastMessageId, messagesAfter } from '../chatlog/queries';
import type { SqlRunner } from '../chatlog/sql';
import type { Logger } from '../log';
import { canSee, type Principal } from './users';

interface Watcher {
  principal: Principal;
  res: Response;
}

export class LiveFeed {
  private readonly watchers = new Set<Watcher>();
  private timer?: NodeJS.Timeout;
  private last?: string;
  private busy = false;

  constructor(private readonly db: SqlRunner, private readonly logger: Logger, private readonly everyMs = 1_000) {}

  /** Streams server-sent events to `res` until the client goes away. */
  async watch(principal: Principal, res: Response): Promise<void> {
    // Start from what exists when the first watcher arrives: everything after is news to it.
    if (this.last === undefined) this.last = await lastMessageId(this.db);
    res.status(200).set({ 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', 'x-accel-buffering': 'no' });
    res.flushHeaders();
    res.write(': live\n\n');
    const w = { principal, res };
    this.watchers.add(w);
    const ping = setInterval(() => res.write(': ping\n\n'), 15_000);
    res.on('close', () => {
      clearInterval(ping);
      this.watchers.delete(w);
      if (this.watchers.size === 0) this.pause();
    });
    this.timer ??= setInterval(() => void this.poll(), this.everyMs);
  }

  private pause(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.last = undefined; // the next watcher starts from "now"
  }

  stop(): void {
    for (const w of this.watchers) w.res.end();
    this.pause();
  }

  private async poll(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      this.last ??= await lastMessageId(this.db);
      const rows = await messagesAfter(this.db, this.last);
      if (!rows.length) return;
      this.last = rows[rows.length - 1]!.id;
      for (const w of this.watchers) {
        const mine = rows.filter((r) => canSee(w.principal, r.pageId));
        if (mine.length) w.res.write(`event: messages\ndata: ${JSON.stringify(mine.map((r) => ({ ...r, key: `${r.pageId}:${r.userId}` })))}\n\n`);
      }
    } catch (err) {
      this.logger.warn({ err }, 'live feed poll failed: retrying');
    } finally {
      this.busy = false;
    }
  }
}
