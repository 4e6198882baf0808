/**
 * The chatlog role: reads the chatlog stream shards with a consumer group, writes batches to
 * PostgreSQL, and acknowledges (and deletes) entries only after the commit. While PostgreSQL
 * is down, entries stay pending and are retried with backoff; replies never wait for this.
 * Entries a dead consumer left pending are reclaimed after `claimIdleMs`.
 */
import os from 'node:os';
import type { Logger } from '../log';
import type { Metrics } from '../metrics';
import type { ChatlogRecord } from './records';
import type { SqlClient } from './sql';
import { CHATLOG_GROUP, type ChatlogStream } from './stream';
import { writeBatch } from './writer';

export interface ConsumerOptions {
  batchSize: number;
  pollMs: number;
  claimIdleMs: number;
  name?: string;
}

interface Entry {
  shard: number;
  id: string;
  record: ChatlogRecord;
}

type StreamReply = [key: string, entries: [id: string, fields: string[] | null][]][] | null;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class ChatlogConsumer {
  readonly name: string;
  private stopping = false;
  private loopDone?: Promise<void>;
  /** Shards whose own pending entries must be read again (after a failure or a reclaim). */
  private readonly recovering: Set<number>;
  private lastClaim = 0;
  private lastLag = 0;
  private lastWarn = 0;

  constructor(
    private readonly stream: ChatlogStream,
    private readonly db: SqlClient,
    private readonly opts: ConsumerOptions,
    private readonly logger: Logger,
    private readonly metrics: Metrics,
    /** Test hook: runs after the commit, before the ack (a crash there must not duplicate rows). */
    private readonly afterCommit?: (entries: number) => void,
  ) {
    this.name = opts.name ?? `${os.hostname()}-${process.pid}`;
    // Entries this consumer name left pending in an earlier life are read first.
    this.recovering = new Set(Array.from({ length: stream.shards }, (_, i) => i));
  }

  async start(): Promise<void> {
    for (let s = 0; s < this.stream.shards; s++) {
      try {
        await this.stream.redis.xgroup('CREATE', this.stream.key(s), CHATLOG_GROUP, '0', 'MKSTREAM');
      } catch (err) {
        if (!String((err as Error).message).includes('BUSYGROUP')) throw err;
      }
    }
    this.loopDone = this.loop();
  }

  /** Stops reading; first writes what is already in the stream (bounded), so a clean stop leaves no lag. */
  async stop(): Promise<void> {
    this.stopping = true;
    await this.loopDone;
    try {
      for (let i = 0; i < 20 && (await this.runOnce()) > 0; i++);
    } catch (err) {
      this.logger.warn({ err }, 'chatlog flush at stop failed: the entries stay in the stream for the next consumer');
    }
  }

  /** Reads, writes and acks one batch; returns how many entries it wrote. */
  async runOnce(): Promise<number> {
    const entries = await this.read();
    if (entries.length === 0) return 0;
    const started = Date.now();
    const result = await writeBatch(
      this.db,
      entries.map((e) => e.record),
    );
    this.afterCommit?.(entries.length);
    await this.ack(entries);
    this.metrics.chatlogRows.inc({ result: 'inserted' }, result.inserted);
    this.metrics.chatlogRows.inc({ result: 'updated' }, result.updated);
    this.metrics.chatlogBatchSeconds.observe((Date.now() - started) / 1000);
    return entries.length;
  }

  private async loop(): Promise<void> {
    let failures = 0;
    while (!this.stopping) {
      try {
        await this.maintain();
        const n = await this.runOnce();
        failures = 0;
        if (n === 0) await sleep(this.opts.pollMs);
      } catch (err) {
        failures++;
        this.metrics.chatlogErrors.inc();
        for (let s = 0; s < this.stream.shards; s++) this.recovering.add(s);
        if (Date.now() - this.lastWarn > 5_000) {
          this.lastWarn = Date.now();
          this.logger.warn({ err, failures }, 'chatlog batch not written: entries stay in the stream and are retried');
        }
        await sleep(Math.min(5_000, 100 * 2 ** Math.min(failures, 6)));
      }
    }
  }

  private async read(): Promise<Entry[]> {
    const out: Entry[] = [];
    const per = Math.max(1, Math.ceil(this.opts.batchSize / this.stream.shards));
    await Promise.all(
      Array.from({ length: this.stream.shards }, async (_, shard) => {
        const own = this.recovering.has(shard);
        const reply = (await this.stream.redis.xreadgroup('GROUP', CHATLOG_GROUP, this.name, 'COUNT', per, 'STREAMS', this.stream.key(shard), own ? '0' : '>')) as StreamReply;
        const entries = reply?.[0]?.[1] ?? [];
        if (own && entries.length < per) this.recovering.delete(shard);
        const orphans: string[] = [];
        for (const [id, fields] of entries) {
          const i = fields ? fields.indexOf('r') : -1;
          // Deleted but still pending (a crash between XDEL and XACK): written already.
          if (!fields || i < 0 || fields[i + 1] === undefined) orphans.push(id);
          else out.push({ shard, id, record: JSON.parse(fields[i + 1]!) as ChatlogRecord });
        }
        if (orphans.length) await this.stream.redis.xack(this.stream.key(shard), CHATLOG_GROUP, ...orphans);
      }),
    );
    return out;
  }

  private async ack(entries: Entry[]): Promise<void> {
    const byShard = new Map<number, string[]>();
    for (const e of entries) byShard.set(e.shard, [...(byShard.get(e.shard) ?? []), e.id]);
    await Promise.all(
      [...byShard].map(async ([shard, ids]) => {
        const key = this.stream.key(shard);
        // Delete, then ack: the stream keeps only what is not written, so its oldest entry is the lag.
        await this.stream.redis.xdel(key, ...ids);
        await this.stream.redis.xack(key, CHATLOG_GROUP, ...ids);
      }),
    );
  }

  /** Periodic work: reclaim a dead consumer's entries, refresh the lag gauge. */
  private async maintain(): Promise<void> {
    const now = Date.now();
    if (now - this.lastClaim >= Math.min(this.opts.claimIdleMs, 10_000)) {
      this.lastClaim = now;
      for (let s = 0; s < this.stream.shards; s++) {
        const [, claimed] = (await this.stream.redis.xautoclaim(this.stream.key(s), CHATLOG_GROUP, this.name, this.opts.claimIdleMs, '0-0', 'COUNT', this.opts.batchSize, 'JUSTID')) as [string, string[]];
        if (claimed.length) {
          this.recovering.add(s);
          this.logger.info({ shard: s, entries: claimed.length }, 'reclaimed chatlog entries a stopped consumer left unwritten');
        }
      }
    }
    if (now - this.lastLag >= 1_000) {
      this.lastLag = now;
      this.metrics.chatlogLag.set((await this.lagMs()) / 1000);
    }
  }

  /** Age of the oldest entry not yet written (written entries are deleted). */
  async lagMs(): Promise<number> {
    let oldest = Date.now();
    for (let s = 0; s < this.stream.shards; s++) {
      const first = (await this.stream.redis.xrange(this.stream.key(s), '-', '+', 'COUNT', 1))[0];
      if (first) oldest = Math.min(oldest, Number(first[0].split('-')[0]));
    }
    return Date.now() - oldest;
  }
}
