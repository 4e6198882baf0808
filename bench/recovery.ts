/**
 * Recovery after a worker is killed, as `npm run chaos` measures it.
 *
 * A kill is a SIGSTOP, a look at Redis, then a SIGKILL: from the outside a stopped process
 * is a dead one (it answers nothing, extends nothing), and stopping it first makes "what it
 * held" exact. At the SIGSTOP (the kill time K) the probe lists the conversation locks whose
 * value names the victim (`<worker id>/…`), and which of them had a reply mid-send (a pending
 * mark in the reply ledger). Then, per conversation:
 * - **resumed**: K → another worker takes its lock (the first `set` keyspace event on the
 *   lock key after K: the victim can set nothing any more). This is what the lease, the lock
 *   TTL and the reaper decide; the "< 3 s" target is on its maximum per kill.
 * - **reply**: K → the first Send API call on that conversation after it resumed, for a
 *   reply the user was owed when it resumed (the message was sent before). A conversation
 *   whose reply was mid-send may wait on top for its echo, up to SEND_ECHO_GRACE_MS after the
 *   send began: the reply ledger will not resend what may have reached Facebook until then.
 *   Those are reported apart. A conversation that owed nothing (its reply was out) has none.
 */
import path from 'node:path';
import Redis from 'ioredis';
import type { FakeGraph } from '../src/dev/fake-graph';
import { audit, PAGES, problems, startPipeline, waitForReplies } from '../test/helpers/pipeline';
import type { RoleProcess } from '../test/helpers/procs';
import type { BenchServers } from './env';
import { openLoop, quantiles, Users, type Sent } from './load';

export interface KillRecord {
  victim: string;
  /** Its worker id (its lock values start with it). */
  worker: string;
  /** Epoch ms of the SIGSTOP. */
  at: number;
  /** Conversation (page:user) -> its lock key, and whether a reply was mid-send at the kill. */
  held: Map<string, { key: string; midSend: boolean }>;
  /** Conversation -> epoch ms another worker took its lock. */
  resumed: Map<string, number>;
  /** Epoch ms a reaper took the victim out of the worker registry (its first step). */
  handedOver?: number;
}

export interface KillReport {
  held: number;
  /** K → a live worker's reaper judged the victim dead and began handing over; 0 if none did. */
  handed_over_ms: number;
  resumed_median_ms: number;
  resumed_max_ms: number;
  not_resumed: number;
  reply_max_ms: number;
  mid_send: number;
  mid_send_reply_max_ms: number;
}

/** The worker id a role logged in its `ready` line. */
export function workerIdOf(role: RoleProcess): string {
  const id = role.workerId;
  if (!id) throw new Error(`${role.name} logged no worker id`);
  return id;
}

export class KillProbe {
  private readonly redis: Redis;
  private readonly sub: Redis;
  /** Lock key of a held conversation -> its kill, until another worker takes the lock. */
  private readonly watching = new Map<string, KillRecord>();
  /** Kills whose victim no reaper has taken out of the worker registry yet. */
  private readonly pending = new Set<KillRecord>();

  constructor(
    url: string,
    private readonly prefix: string,
  ) {
    this.redis = new Redis(url, { maxRetriesPerRequest: 1 });
    this.sub = new Redis(url);
    this.redis.on('error', () => undefined);
    this.sub.on('error', () => undefined);
    this.sub.on('message', (channel: string, event: string) => {
      const key = channel.slice(channel.indexOf(':') + 1);
      if (key === this.registry) {
        if (event === 'zrem') void this.noteHandovers();
        return;
      }
      const record = this.watching.get(key);
      if (event !== 'set' || !record) return;
      this.watching.delete(key);
      void this.sub.unsubscribe(channel).catch(() => undefined);
      for (const [c, h] of record.held) if (h.key === key && !record.resumed.has(c)) record.resumed.set(c, Date.now());
    });
  }

  private get registry(): string {
    return `${this.prefix}:{workers}`;
  }

  /** A worker left the registry: the victims no longer in it were judged dead just now. */
  private async noteHandovers(): Promise<void> {
    const now = Date.now();
    for (const r of this.pending) {
      if ((await this.redis.zscore(this.registry, r.worker).catch(() => 'unknown')) !== null) continue;
      r.handedOver = now;
      this.pending.delete(r);
    }
  }

  /** Stops `victim`, records what it held, kills it, and watches who takes its conversations. */
  async kill(victim: RoleProcess, worker: string): Promise<KillRecord> {
    victim.child.kill('SIGSTOP');
    const record: KillRecord = { victim: victim.name, worker, at: Date.now(), held: new Map(), resumed: new Map() };
    try {
      const keys: string[] = [];
      let cursor = '0';
      do {
        const [next, found] = await this.redis.scan(cursor, 'MATCH', `${this.prefix}:{*}:lock`, 'COUNT', 1000);
        cursor = next;
        keys.push(...found);
      } while (cursor !== '0');
      const values = keys.length ? await this.redis.mget(...keys) : [];
      const mine = keys.filter((_, i) => values[i]?.startsWith(`${worker}/`));
      for (const key of mine) {
        const conversation = /\{([^}]+)\}/.exec(key)![1]!;
        const sent = await this.redis.hkeys(key.replace(/:lock$/, ':sent'));
        record.held.set(conversation, { key, midSend: sent.some((f) => f.startsWith('p:')) });
      }
      // Keyspace events are a runtime setting: set again each time (Redis may have restarted).
      await this.redis.config('SET', 'notify-keyspace-events', 'K$z');
      for (const key of mine) this.watching.set(key, record);
      this.pending.add(record);
      await this.sub.subscribe(...[this.registry, ...mine].map((k) => `__keyspace@0__:${k}`));
    } finally {
      await victim.kill('SIGKILL');
    }
    return record;
  }

  /** The figures of one kill, once the run is over. */
  static report(r: KillRecord, graph: FakeGraph, sent: readonly Sent[]): KillReport {
    const sentAt = new Map(sent.map((s) => [s.mid, s.at]));
    const resumed = [...r.resumed.values()].map((t) => t - r.at).sort((a, b) => a - b);
    const replies: number[] = [];
    const midSend: number[] = [];
    for (const [conversation, h] of r.held) {
      const t = r.resumed.get(conversation);
      if (t === undefined) continue;
      const [page, user] = [conversation.slice(0, conversation.indexOf(':')), conversation.slice(conversation.indexOf(':') + 1)];
      const owed = graph.calls.find((c) => c.pageId === page && c.recipientId === user && c.at >= t && (sentAt.get(c.metadata?.mid ?? '') ?? Infinity) < t);
      if (owed) (h.midSend ? midSend : replies).push(owed.at - r.at);
    }
    const max = (xs: number[]) => (xs.length ? Math.max(...xs) : 0);
    return {
      held: r.held.size,
      handed_over_ms: r.handedOver ? r.handedOver - r.at : 0,
      resumed_median_ms: resumed[Math.floor(resumed.length / 2)] ?? 0,
      resumed_max_ms: max(resumed),
      not_resumed: r.held.size - r.resumed.size,
      reply_max_ms: max(replies),
      mid_send: [...r.held.values()].filter((h) => h.midSend).length,
      mid_send_reply_max_ms: max(midSend),
    };
  }

  async stop(): Promise<void> {
    await this.redis.config('SET', 'notify-keyspace-events', '').catch(() => undefined); // the next scenario pays nothing for it
    this.sub.disconnect();
    this.redis.disconnect();
  }
}

const COUNTERS = ['cb_lock_lost_total', 'cb_fenced_total', 'cb_lock_contention_total', 'cb_worker_presumed_dead_total', 'cb_conversations_taken_over_total'] as const;

/**
 * What shows lock churn and takeovers on a role's /metrics (zeros if it does not answer):
 * the counters, heartbeat gaps longer than 1 s and 1.5 s (2 s presumes a worker dead), and
 * the longest event-loop stall since the last scrape (the whole run, when scraped once).
 */
export async function churnCounters(role: RoleProcess): Promise<Record<string, number>> {
  const text = await fetch(`${role.url}/metrics`)
    .then((r) => r.text())
    .catch(() => '');
  const value = (re: RegExp) => Number(re.exec(text)?.[1] ?? 0);
  const gaps = value(/^cb_worker_heartbeat_gap_seconds_count (\S+)/m);
  return {
    ...Object.fromEntries(COUNTERS.map((name) => [name, value(new RegExp(`^${name} (\\S+)`, 'm'))])),
    heartbeat_gaps_over_1s: gaps - value(/^cb_worker_heartbeat_gap_seconds_bucket\{le="1"\} (\S+)/m),
    heartbeat_gaps_over_1_5s: gaps - value(/^cb_worker_heartbeat_gap_seconds_bucket\{le="1.5"\} (\S+)/m),
    eventloop_lag_max_ms: Math.round(value(/^nodejs_eventloop_lag_max_seconds (\S+)/m) * 1000),
  };
}

/** Sums the figures of several roles (maxima for the event-loop stall). */
export function addChurn(into: Record<string, number>, more: Record<string, number>): Record<string, number> {
  for (const [k, v] of Object.entries(more)) into[k] = k.endsWith('_max_ms') ? Math.max(into[k] ?? 0, v) : (into[k] ?? 0) + v;
  return into;
}

/**
 * `npm run bench worker-kill`: the run, 200 users × 10 messages (200 messages/s, a
 * Send API answering in 100 ms), one of 2 workers SIGKILLed 4 s in. Three times in the same
 * run: the lease alone (WORKER_DEAD_AFTER_MS=0, how it recovered before: LOCK_TTL_MS, 10 s),
 * the alternative of a 2 s lock TTL and lease, and the heartbeat (the default). Reports reply
 * latency, the kill's figures (see KillProbe), lock churn and the invariants.
 */
export async function workerKill(s: BenchServers): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  const variants = [
    ['lease_only', { LOCK_TTL_MS: '10000', WORKER_DEAD_AFTER_MS: '0' }],
    ['short_ttl', { LOCK_TTL_MS: '2000', WORKER_DEAD_AFTER_MS: '0' }],
    ['heartbeat', { LOCK_TTL_MS: '10000', WORKER_DEAD_AFTER_MS: '2000' }],
  ] as const;
  for (const [label, env] of variants) {
    const p = await startPipeline(`bench-kill-${label}`, { REDIS_URL: s.redis.url }, { dir: path.join(s.tmp, `kill-${label}`), env: { WORKER_POLL_MS: '5', ...env } });
    p.graph.latencyMs = 100;
    const probe = new KillProbe(s.redis.url, p.prefix);
    try {
      const victim = p.workers[0]!;
      const killing = new Promise((r) => setTimeout(r, 4_000)).then(() => probe.kill(victim, workerIdOf(victim)));
      const load = await openLoop(p.gateway.url, { rate: 200, seconds: 10, users: new Users(200, PAGES) });
      const kill = await killing;
      const expected = new Map<string, string[]>();
      for (const x of load.sent) expected.set(x.key, [...(expected.get(x.key) ?? []), x.mid]);
      await waitForReplies(p.graph, expected, 60_000);
      await new Promise((r) => setTimeout(r, 6_000)); // past the echo grace: a wrong resend shows up now
      const a = audit(p.graph, expected);
      if (a.lost + a.duplicates + a.outOfOrder > 0) process.stderr.write(`[bench] worker-kill ${label}: promises broken: ${JSON.stringify(a)}\n${await problems(p, 40)}\n`);
      const sentAt = new Map(load.sent.map((x) => [x.mid, x.at]));
      const e2e = p.graph.calls.filter((c) => c.metadata?.mid && sentAt.has(c.metadata.mid)).map((c) => c.at - sentAt.get(c.metadata!.mid!)!);
      const k = KillProbe.report(kill, p.graph, load.sent);
      const q = { ...quantiles(e2e), max: Math.max(...e2e) };
      const churn = await churnCounters(p.workers[1]!);
      Object.assign(out, {
        [`${label}_messages`]: load.sent.length,
        [`${label}_e2e_ms_p50`]: q.p50,
        [`${label}_e2e_ms_p99`]: q.p99,
        [`${label}_e2e_ms_max`]: q.max,
        [`${label}_held`]: k.held,
        [`${label}_handed_over_ms`]: k.handed_over_ms,
        [`${label}_resumed_max_ms`]: k.resumed_max_ms,
        [`${label}_reply_max_ms`]: Math.max(k.reply_max_ms, k.mid_send_reply_max_ms),
        [`${label}_lost`]: a.lost,
        [`${label}_duplicates`]: a.duplicates,
        [`${label}_out_of_order`]: a.outOfOrder,
        [`${label}_fenced_or_lost`]: (churn.cb_fenced_total ?? 0) + (churn.cb_lock_lost_total ?? 0) + (churn.cb_worker_presumed_dead_total ?? 0),
      });
    } finally {
      await probe.stop();
      await p.stop();
    }
  }
  return out;
}
