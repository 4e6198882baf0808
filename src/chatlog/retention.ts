/**
 * CHATLOG_RETENTION_DAYS: the chatlog role deletes messages older than that, every hour (and
 * once at start), in batches of a few thousand rows so that no statement holds locks for long.
 * Several chatlog replicas may run it at once: the batches just meet fewer rows.
 */
import type { Logger } from '../log';
import { purgeBefore } from './forget';
import type { SqlClient } from './sql';

export class Retention {
  private timer?: NodeJS.Timeout;
  private running?: Promise<unknown>;

  constructor(
    private readonly db: SqlClient,
    private readonly days: number,
    private readonly logger: Logger,
    private readonly everyMs = 3_600_000,
  ) {}

  start(): void {
    this.kick();
    this.timer = setInterval(() => this.kick(), this.everyMs);
    this.timer.unref();
  }

  private kick(): void {
    this.running ??= this.purge().finally(() => (this.running = undefined));
  }

  /** One pass; returns what it deleted. */
  async purge(now = Date.now()): Promise<{ messages: number; conversations: number }> {
    try {
      const cutoff = new Date(now - this.days * 86_400_000);
      const r = await purgeBefore(this.db, cutoff);
      if (r.messages || r.conversations) this.logger.info({ ...r, olderThan: cutoff.toISOString() }, 'chatlog retention: old messages deleted');
      return r;
    } catch (err) {
      this.logger.warn({ err }, 'chatlog retention pass failed: it runs again within the hour');
      return { messages: 0, conversations: 0 };
    }
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }
}
