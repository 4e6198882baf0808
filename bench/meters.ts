/**
 * What every throughput scenario measures the same way, whatever runs behind the webhook
 * (the product, the bare protocol pipeline, the peer): CPU per message per process, Redis
 * commands per message, and the replies the Graph API fake got — rate, end-to-end latency and
 * the audit of the promises (order, duplicates, losses).
 */
import fs from 'node:fs';
import Redis from 'ioredis';
import type { FakeGraph } from '../src/dev/fake-graph';
import { audit, waitForReplies } from '../test/helpers/pipeline';
import { quantiles, type LoadResult } from './load';

export type Result = Record<string, number>;

export const prefix = (p: string, o: Record<string, number>): Result => Object.fromEntries(Object.entries(o).map(([k, v]) => [`${p}${k}`, v]));

/** CPU seconds (user + system) a process has used, from /proc. */
export function cpuOf(pid: number | undefined): number {
  if (!pid) return 0;
  try {
    const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return 0;
  }
}

/** Write system calls (write, writev, sendto…) a process has made, from /proc: one per socket write, the largest self time in the roles' profiles. */
export function writesOf(pid: number | 'self' | undefined): number {
  if (!pid) return 0;
  try {
    return Number(/^syscw: (\d+)$/m.exec(fs.readFileSync(`/proc/${pid}/io`, 'utf8'))?.[1] ?? 0);
  } catch {
    return 0;
  }
}

/**
 * CPU and write system calls per role over a run, to report them per message and see where
 * they go. `roles`: the processes of each role (this process — the load generator and the
 * Graph API fake — is added as `loadgen_and_fake`). `…_product` sums every role but the harness.
 */
export function cpuMeter(roles: Record<string, readonly (number | undefined)[]>) {
  const sample = (of: (pid: number | undefined) => number) => Object.fromEntries(Object.entries(roles).map(([k, pids]) => [k, pids.reduce<number>((a, pid) => a + of(pid), 0)])) as Record<string, number>;
  const [cpu0, writes0, self0, selfWrites0] = [sample(cpuOf), sample(writesOf), process.cpuUsage(), writesOf('self')];
  return (messages: number): Result => {
    const [cpu1, writes1, self, selfWrites] = [sample(cpuOf), sample(writesOf), process.cpuUsage(self0), writesOf('self') - selfWrites0];
    const used: Record<string, number> = Object.fromEntries(Object.keys(cpu1).map((k) => [k, cpu1[k]! - cpu0[k]!]));
    const writes: Record<string, number> = Object.fromEntries(Object.keys(writes1).map((k) => [k, writes1[k]! - writes0[k]!]));
    const product = Object.values(used).reduce((a, b) => a + b, 0);
    const productWrites = Object.values(writes).reduce((a, b) => a + b, 0);
    used.loadgen_and_fake = (self.user + self.system) / 1e6;
    writes.loadgen_and_fake = selfWrites;
    const ms = (s: number) => Number(((s * 1000) / messages).toFixed(2));
    const per = (n: number) => Number((n / messages).toFixed(1));
    return {
      cpu_ms_per_message: ms(product + used.loadgen_and_fake),
      cpu_ms_per_message_product: ms(product),
      ...Object.fromEntries(Object.entries(used).map(([k, v]) => [`cpu_ms_per_message_${k}`, ms(v)])),
      writes_per_message_product: per(productWrites),
      ...Object.fromEntries(Object.entries(writes).map(([k, v]) => [`writes_per_message_${k}`, per(v)])),
    };
  };
}

/** This machine's TCP listen-queue overflows so far (SYNs dropped: each stalls a connection for 1 s or more). */
export function listenOverflows(): number {
  const lines = fs
    .readFileSync('/proc/net/netstat', 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('TcpExt:'));
  const [names, values] = lines.map((l) => l.split(/\s+/));
  const i = names?.indexOf('ListenOverflows') ?? -1;
  return i > 0 ? Number(values?.[i] ?? 0) : 0;
}

/** Redis commands (scripts' inner calls included) and socket reads (≈ round trips) per message, and listen overflows during the run. */
export async function redisMeter(url: string) {
  const redis = new Redis(url);
  const stats = async () => {
    const info = await redis.info('stats');
    const field = (k: string) => Number(new RegExp(`${k}:(\\d+)`).exec(info)?.[1] ?? 0);
    return { commands: field('total_commands_processed'), reads: field('total_reads_processed') };
  };
  const commandStats = async () => {
    const info = await redis.info('commandstats');
    return new Map([...info.matchAll(/cmdstat_(\S+):calls=(\d+)/g)].map((m) => [m[1]!, Number(m[2])]));
  };
  const t0 = await stats();
  const c0 = await commandStats();
  const o0 = listenOverflows();
  return async (messages: number): Promise<Result> => {
    const t1 = await stats();
    const c1 = await commandStats();
    const perMessage = [...c1]
      .map(([k, v]) => [k, (v - (c0.get(k) ?? 0)) / messages] as const)
      .filter(([, v]) => v >= 0.05)
      .sort((a, b) => b[1] - a[1]);
    process.stderr.write(`[bench] redis commands per message: ${perMessage.map(([k, v]) => `${k} ${v.toFixed(2)}`).join(', ')}\n`);
    redis.disconnect();
    return {
      redis_commands_per_message: Number(((t1.commands - t0.commands) / messages).toFixed(1)),
      redis_scripts_per_message: Number(
        perMessage
          .filter(([k]) => k === 'evalsha' || k === 'eval')
          .reduce((a, [, v]) => a + v, 0)
          .toFixed(2),
      ),
      redis_reads_per_message: Number(((t1.reads - t0.reads) / messages).toFixed(1)),
      listen_overflows_machine_wide: listenOverflows() - o0,
    };
  };
}

/**
 * Waits for the reply to every message of `load`, then reads what the fake got: the rate
 * (first message sent → last reply received), end-to-end latency (a message's POST sent →
 * the Send API call answering it) and the audit. `onBroken` explains a broken promise.
 */
export async function replyFigures(graph: FakeGraph, load: LoadResult, timeoutMs: number, onBroken?: (a: ReturnType<typeof audit>) => Promise<void>): Promise<Result> {
  const expected = new Map<string, string[]>();
  const sentAt = new Map<string, number>();
  for (const x of load.sent) {
    expected.set(x.key, [...(expected.get(x.key) ?? []), x.mid]);
    sentAt.set(x.mid, x.at);
  }
  await waitForReplies(graph, expected, timeoutMs);
  await new Promise((r) => setTimeout(r, 1_000)); // late duplicates show up here
  const a = audit(graph, expected);
  if (a.outOfOrder + a.duplicates + a.lost > 0) await onBroken?.(a);
  const latencies = graph.calls.filter((c) => c.metadata?.mid && sentAt.has(c.metadata.mid)).map((c) => c.at - sentAt.get(c.metadata!.mid!)!);
  const first = Math.min(...load.sent.map((x) => x.at));
  const last = Math.max(...graph.messages.map((c) => c.at));
  return {
    messages: load.sent.length,
    messages_per_s: Math.round(load.sent.length / ((last - first) / 1000)),
    ...prefix('e2e_ms_', quantiles(latencies)),
    order_violations: a.outOfOrder,
    duplicates: a.duplicates,
    lost: a.lost,
  };
}
