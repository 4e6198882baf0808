/**
 * The conversation queue: what the gateway and the workers do to Redis. Each method is
 * one round trip (one script); the scripts hold the atomicity, this file the types.
 * Payloads are opaque strings: the queue orders, dedupes and fences, it never reads them.
 */
import { Batcher } from './batch';
import { type EnqueueCode, errorForCode, ScriptCode, ScriptReplyError } from './errors';
import { Keys } from './keys';
import { oneServer, type RedisClient } from './redis';

/** One event to queue (or only to record, when `queue` is false). */
export interface QueueItem {
  /** Dedupe key within the conversation. */
  id: string;
  /** Order: the platform's timestamp (ms), then arrival. */
  timestamp: number;
  payload: string;
  /** A confirmation of reply `index` of event `event` (an echo, a status): marks it for the reply ledger. */
  confirms?: { event: string; index: number };
  /** A confirmation that names content, not a reply (a channel's confirmation key): counted for the reply ledger. */
  confirmsKey?: string;
  queue: boolean;
}

export interface EnqueueResult {
  conversation: string;
  codes: EnqueueCode[];
  /** Events in the queue. */
  depth: number;
  /** Events waiting in the overflow list behind them. */
  overflow: number;
}

export interface Claim {
  conversation: string;
  shard: number;
  lease: number;
  waitedMs: number;
  /** The worker recorded as holding the lease ('' = none): the reaper hands it over if that worker dies. */
  owner: string;
}

/** What a polling round brought: its claims, the ms until the next entry of its shards is due (-1: none), and the first error of a shard that failed. */
export interface Round<C extends Claim> {
  claims: C[];
  nextDueMs: number;
  error?: unknown;
}

export type NextResult =
  | { code: ScriptCode.Busy }
  | { code: ScriptCode.Fenced }
  /** `handedBack` (finish-n only): the conversation was handed back to its ready shard in the same call — removed (true), or left for new work or a new holder (false). */
  | { code: ScriptCode.Empty; handedBack?: boolean }
  | {
      code: ScriptCode.Ok;
      member: string;
      payload: string;
      confirmed: number;
      /** A reply that was being sent when the previous holder stopped, if any. */
      pending?: { index: number; ageMs: number; echoed: boolean };
      /** No reply pending, yet Facebook echoed reply `confirmed`: it went out (its marks were lost). */
      nextEchoed?: boolean;
      depth: number;
      overflow: number;
    };

export interface Ack {
  member: string;
  id: string;
  sent: number;
}

/** A conversation claimed, locked and peeked in one call (claim-peek-n): `first` is what next-6 would have answered. */
export interface Taken extends Claim {
  lockValue: string;
  /** Busy or Empty: it was handed back already (requeued after the busy delay, or removed). */
  first: NextResult;
}

/** One conversation's events of a webhook POST, for ingest-n. */
export interface IngestEntry {
  conversation: string;
  events: readonly QueueItem[];
}

/** Chatlog entries for one stream shard: its key and the encoded records, in order. */
export interface StreamEntries {
  key: string;
  values: string[];
}

/** An event a worker is done with: finish-n records its outcome, acknowledges it and peeks the next. */
export interface Finish {
  claim: Claim;
  lockValue: string;
  ack: Ack;
  /** Its chatlog records: their stream shard (the conversation's) and the encoded entries. */
  records: StreamEntries;
}

export interface QueueOptions {
  shards: number;
  prefix: string;
  dedupeTtlMs: number;
  maxPerConversation: number;
  /** Events that may wait in a conversation's overflow list; beyond it enqueue refuses (0 = no bound). */
  maxOverflow?: number;
}

const int = (v: unknown, script: string): number => {
  const n = typeof v === 'number' ? v : Number(v);
  if (!Number.isFinite(n)) throw new ScriptReplyError({ script, reply: v });
  return n;
};

/** enqueue-6's arguments for a conversation's events: 5 per event. */
function eventArgs(events: readonly QueueItem[]): (string | number)[] {
  const argv: (string | number)[] = [];
  for (const p of events) {
    const echoField = p.confirms ? `e:${p.confirms.event}:${p.confirms.index}` : p.confirmsKey ? `-k:${p.confirmsKey}` : '';
    argv.push(p.id, p.timestamp, p.payload, echoField, p.queue ? '1' : '0');
  }
  return argv;
}

/** A reply of enqueue-6 (or of ingest-n for one entry), checked before it is trusted. */
function enqueuedOf(reply: unknown, script: string, conversation: string, events: number): EnqueueResult {
  if (!Array.isArray(reply) || reply.length !== events + 2) throw new ScriptReplyError({ script, reply });
  const codes = reply.slice(0, -2).map((c) => int(c, script) as EnqueueCode);
  return { conversation, codes, depth: int(reply[reply.length - 2], script), overflow: int(reply[reply.length - 1], script) };
}

/** A reply of next-6 (or of a script that peeks as it does), checked before it is trusted. */
function peekedOf(r: unknown, script: string, conversation: string): NextResult {
  const code = Array.isArray(r) ? int(r[0], script) : NaN;
  if (code === ScriptCode.Fenced || code === ScriptCode.Empty || code === ScriptCode.Busy) return { code };
  if (code !== ScriptCode.Ok) throw errorForCode(code, { script, conversation }) ?? new ScriptReplyError({ script, reply: r });
  const x = r as unknown[];
  if (x.length !== 9) throw new ScriptReplyError({ script, reply: r });
  const pendingIndex = int(x[4], script);
  return {
    code,
    member: String(x[1]),
    payload: String(x[2]),
    confirmed: int(x[3], script),
    ...(pendingIndex >= 0 ? { pending: { index: pendingIndex, ageMs: int(x[5], script), echoed: int(x[6], script) === 1 } } : int(x[6], script) === 1 ? { nextEchoed: true } : {}),
    depth: int(x[7], script),
    overflow: int(x[8], script),
  };
}

export class ConversationQueue {
  readonly keys: Keys;
  constructor(
    readonly redis: RedisClient,
    readonly opts: QueueOptions,
  ) {
    this.keys = new Keys(opts.prefix, opts.shards);
  }

  /** Adds one conversation's events (in arrival order) atomically, deduped by event id. */
  async enqueue(conversation: string, events: readonly QueueItem[], now = Date.now()): Promise<EnqueueResult> {
    const k = this.keys.conversation(conversation);
    const reply = await this.redis.cbEnqueue(k.q, k.ev, k.seen, k.sent, k.seq, k.overflow, now, this.opts.dedupeTtlMs, this.opts.maxPerConversation, this.opts.maxOverflow ?? 0, ...eventArgs(events));
    return enqueuedOf(reply, 'enqueue-6', conversation, events.length);
  }

  /**
   * Queues the events of a webhook POST (several conversations), appends its chatlog records and
   * marks every conversation left with work ready, in one call (one server only: `oneServer`)
   * shared with the POSTs that came in the same turn of the event loop. Resolves when it is all
   * in Redis; one result per entry, in order.
   */
  ingest(entries: readonly IngestEntry[], records: readonly StreamEntries[]): Promise<EnqueueResult[]> {
    return this.ingesting.submit({ entries, records });
  }

  /** At most 256 KB of payloads a call: a flood of large POSTs does not hold Redis in one long script. */
  private readonly ingesting = new Batcher<{ entries: readonly IngestEntry[]; records: readonly StreamEntries[] }, EnqueueResult[]>((posts) => this.ingestMany(posts), {
    size: (p) => p.entries.reduce((a, e) => a + e.events.reduce((b, x) => b + x.payload.length, 0), 0) + p.records.reduce((a, r) => a + r.values.reduce((b, v) => b + v.length, 0), 0),
    maxSize: 256 * 1024,
  });

  /** One ingest-n call for several POSTs: their entries in order, their records by stream shard. */
  private async ingestMany(posts: readonly { entries: readonly IngestEntry[]; records: readonly StreamEntries[] }[]): Promise<EnqueueResult[][]> {
    const entries = posts.flatMap((p) => p.entries);
    const streams = new Map<string, string[]>();
    for (const r of posts.flatMap((p) => p.records)) streams.set(r.key, [...(streams.get(r.key) ?? []), ...r.values]);
    const keys: string[] = [];
    const args: (string | number)[] = [Date.now(), this.opts.dedupeTtlMs, this.opts.maxPerConversation, this.opts.maxOverflow ?? 0, entries.length];
    for (const e of entries) {
      const k = this.keys.conversation(e.conversation);
      keys.push(k.q, k.ev, k.seen, k.sent, k.seq, k.overflow, this.keys.ready(this.keys.shardOf(e.conversation)));
      args.push(e.conversation, e.events.length, ...eventArgs(e.events));
    }
    for (const [key, values] of streams) {
      keys.push(key);
      args.push(values.length, ...values);
    }
    const reply = await this.redis.cbIngest(keys.length, ...keys, ...args);
    if (!Array.isArray(reply) || reply.length !== entries.length) throw new ScriptReplyError({ script: 'ingest-n', reply });
    const results = entries.map((e, i) => enqueuedOf(reply[i], 'ingest-n', e.conversation, e.events.length));
    let at = 0;
    return posts.map((p) => results.slice(at, (at += p.entries.length)));
  }

  /** Marks conversations ready, one script call per shard. */
  async markReady(conversations: Iterable<string>): Promise<void> {
    const byShard = new Map<number, string[]>();
    for (const c of conversations) {
      const s = this.keys.shardOf(c);
      byShard.set(s, [...(byShard.get(s) ?? []), c]);
    }
    await Promise.all([...byShard].map(([s, list]) => this.redis.cbMark(this.keys.ready(s), ...list)));
  }

  async claim(shard: number, leaseMs: number, max: number, owner = ''): Promise<Claim[]> {
    return (await this.claimFrom([{ shard, max }], leaseMs, owner, 0)).claims;
  }

  /** One claim-n call over shards that share a slot (one shard) or a server (any shards). */
  private async claimFrom(plan: readonly { shard: number; max: number }[], leaseMs: number, owner: string, idleMs: number): Promise<{ claims: Claim[]; nextDueMs: number }> {
    const keys = [...plan.map((p) => this.keys.ready(p.shard)), ...plan.map((p) => this.keys.owners(p.shard))];
    const reply = await this.redis.cbClaim(keys.length, ...keys, leaseMs, owner, ...plan.map((p) => p.max), idleMs);
    if (!Array.isArray(reply) || reply.length % 3 !== 1) throw new ScriptReplyError({ script: 'claim-n', reply });
    const claims: Claim[] = [];
    for (let i = 0; i + 1 < reply.length; i += 3) {
      const conversation = String(reply[i]);
      claims.push({ conversation, shard: this.keys.shardOf(conversation), lease: int(reply[i + 1], 'claim-n'), waitedMs: int(reply[i + 2], 'claim-n'), owner });
    }
    return { claims, nextDueMs: int(reply[reply.length - 1], 'claim-n') };
  }

  /**
   * Claims from several shards at once (`plan`: how many from each): one call on a single
   * server, one call per shard (all sent together) on a cluster. A shard that fails does not
   * cost the claims the others made (they are leased already): they come back with the
   * first error. `owner` (a worker id) is recorded with each lease, for the reaper.
   * With `idleMs`, a shard that had fewer due than asked is flagged idle for that long: the next
   * work made claimable there publishes a wake-up (see `Keys.wake`), and `nextDueMs` is the ms
   * until the earliest entry of the probed shards is due (-1: they are empty). Without it, or
   * when a shard gave all it was asked for or failed, `nextDueMs` is 0: poll again.
   */
  async claimShards(plan: readonly { shard: number; max: number }[], leaseMs: number, owner = '', idleMs = 0): Promise<Round<Claim>> {
    if (oneServer(this.redis)) {
      try {
        return await this.claimFrom(plan, leaseMs, owner, idleMs);
      } catch (error) {
        return { claims: [], nextDueMs: 0, error };
      }
    }
    const results = await Promise.allSettled(plan.map((p) => this.claimFrom([p], leaseMs, owner, idleMs)));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    const dues = results.map((r) => (r.status === 'fulfilled' ? r.value.nextDueMs : 0)).filter((d) => d >= 0);
    return {
      claims: results.flatMap((r) => (r.status === 'fulfilled' ? r.value.claims : [])),
      nextDueMs: dues.length ? Math.min(...dues) : -1,
      ...(failed ? { error: failed.reason } : {}),
    };
  }

  /**
   * A polling round on one server (`oneServer`): claims as claimShards does, and for each
   * conversation takes its lock and peeks its first event as the first next-6 of a visit
   * does — one call for the round. A conversation whose lock is busy is handed back to be
   * claimed after `busyDelayMs`, one whose queue is empty is removed; both come back with
   * that reply. Lock values are `lockPrefix` + ':' + a number, one per conversation.
   * `idleMs` and `nextDueMs` as claimShards'.
   */
  async claimAndPeek(plan: readonly { shard: number; max: number }[], leaseMs: number, owner: string, o: { lockPrefix: string; lockTtlMs: number; busyDelayMs: number; idleMs?: number }): Promise<{ claims: Taken[]; nextDueMs: number }> {
    const keys = [...plan.map((p) => this.keys.ready(p.shard)), ...plan.map((p) => this.keys.owners(p.shard))];
    const reply = await this.redis.cbClaimPeek(keys.length, ...keys, leaseMs, owner, ...plan.map((p) => p.max), this.keys.prefix, o.lockPrefix, o.lockTtlMs, this.opts.dedupeTtlMs, this.opts.maxPerConversation, o.busyDelayMs, o.idleMs ?? 0);
    if (!Array.isArray(reply) || reply.length === 0) throw new ScriptReplyError({ script: 'claim-peek-n', reply });
    const claims = reply.slice(0, -1).map((x) => {
      if (!Array.isArray(x) || x.length !== 5) throw new ScriptReplyError({ script: 'claim-peek-n', reply: x });
      const conversation = String(x[0]);
      return { conversation, shard: this.keys.shardOf(conversation), lease: int(x[1], 'claim-peek-n'), waitedMs: int(x[2], 'claim-peek-n'), owner, lockValue: String(x[3]), first: peekedOf(x[4], 'claim-peek-n', conversation) };
    });
    return { claims, nextDueMs: int(reply[reply.length - 1], 'claim-peek-n') };
  }

  async settle(claim: Claim, mode: 'remove' | 'requeue', delayMs = 0): Promise<boolean> {
    return (await this.redis.cbSettle(this.keys.ready(claim.shard), this.keys.owners(claim.shard), claim.conversation, claim.lease, mode, delayMs, claim.owner)) === 1;
  }

  /**
   * Acknowledges `ack` (if given, fenced by the lock value) and peeks the next event. With
   * `acquireMs`, first takes the conversation's lock with that TTL (Busy if another worker
   * holds it); with `releaseIfEmpty`, an empty queue also releases the lock.
   */
  async next(conversation: string, lockValue: string, ack?: Ack, opts: { acquireMs?: number; releaseIfEmpty?: boolean } = {}): Promise<NextResult> {
    const k = this.keys.conversation(conversation);
    const r = await this.redis.cbNext(
      k.q,
      k.ev,
      k.sent,
      k.lock,
      k.seq,
      k.overflow,
      lockValue,
      ack?.member ?? '',
      ack?.id ?? '',
      ack?.sent ?? 0,
      this.opts.dedupeTtlMs,
      opts.acquireMs ?? 0,
      opts.releaseIfEmpty ? '1' : '0',
      this.opts.maxPerConversation,
    );
    return peekedOf(r, 'next-6', conversation);
  }

  /** True where the one-server scripts run (claim-peek-n, finish-n, ingest-n: their keys span slots): every key on one server. */
  get oneServer(): boolean {
    return oneServer(this.redis);
  }

  /**
   * For each event a worker is done with, in one round trip:
   * appends its chatlog records, acknowledges it (fenced by the lock value), peeks the next and,
   * when the queue is empty, releases the lock and hands the conversation back to its ready
   * shard. A conversation whose records could not be appended comes back as an Error, and
   * nothing of it was acknowledged; the others are done. One server only (`oneServer`).
   */
  async finishMany(items: readonly Finish[]): Promise<(NextResult | Error)[]> {
    const keys: string[] = [];
    const args: (string | number)[] = [this.opts.dedupeTtlMs, this.opts.maxPerConversation];
    for (const f of items) {
      const c = f.claim.conversation;
      const k = this.keys.conversation(c);
      keys.push(k.q, k.ev, k.sent, k.lock, k.seq, k.overflow, this.keys.ready(f.claim.shard), this.keys.owners(f.claim.shard), f.records.key);
      args.push(c, f.lockValue, f.ack.member, f.ack.id, f.ack.sent, f.claim.lease, f.claim.owner, f.records.values.length, ...f.records.values);
    }
    const reply = await this.redis.cbFinish(keys.length, ...keys, ...args);
    if (!Array.isArray(reply) || reply.length !== items.length) throw new ScriptReplyError({ script: 'finish-n', reply });
    return reply.map((r, i) => {
      const conversation = items[i]!.claim.conversation;
      if (Array.isArray(r) && r[0] === -1) return new Error(`finish-n: records of ${conversation} not appended: ${String(r[1])}`);
      if (Array.isArray(r) && r[0] === ScriptCode.Empty) return { code: ScriptCode.Empty, handedBack: r[1] === 1 };
      return peekedOf(r, 'finish-n', conversation);
    });
  }

  /** Events finished within one turn of the event loop go in one finish-n call. */
  private readonly finishing = new Batcher<Finish, NextResult>((items) => this.finishMany(items));

  /** finish-n for one event, with the others finished at about the same time; throws what finishMany gives back as an Error. */
  finish(item: Finish): Promise<NextResult> {
    return this.finishing.submit(item);
  }

  /**
   * Records that reply `index` of event `id` is about to be sent; throws LockLostError if the
   * lock is no longer ours. `key`: the channel's confirmation key of the message, for channels
   * whose confirmations name content rather than a reply (reply-2 counts them).
   */
  async beginReply(conversation: string, lockValue: string, id: string, index: number, key?: string): Promise<void> {
    const k = this.keys.conversation(conversation);
    const code = int(await this.redis.cbReply(k.sent, k.lock, lockValue, id, 'begin', index, this.opts.dedupeTtlMs, ...(key ? [key] : [])), 'reply-2');
    const err = errorForCode(code, { script: 'reply-2', conversation, mid: id });
    if (err) throw err;
  }

  /** Records that reply `index` of event `id` went out ('done'), or certainly did not ('abort'). */
  async replyDone(conversation: string, id: string, index: number, outcome: 'done' | 'abort' = 'done'): Promise<void> {
    const k = this.keys.conversation(conversation);
    await this.redis.cbReply(k.sent, k.lock, '', id, outcome, index, this.opts.dedupeTtlMs);
  }

  /** Conversations with work and the age of the oldest ready one, for the metrics. */
  async pendingStats(): Promise<{ conversations: number; oldestMs: number }> {
    const now = Date.now();
    let conversations = 0;
    let oldest = now;
    await Promise.all(
      Array.from({ length: this.opts.shards }, async (_, s) => {
        const key = this.keys.ready(s);
        const [count, first] = await Promise.all([this.redis.zcard(key), this.redis.zrange(key, 0, 0, 'WITHSCORES')]);
        conversations += count;
        if (first[1] !== undefined) oldest = Math.min(oldest, Number(first[1]));
      }),
    );
    return { conversations, oldestMs: Math.max(0, now - oldest) };
  }
}
