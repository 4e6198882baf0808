/**
 * Pipeline benchmarks: the HTTP ceiling (bare express), webhook ingest (workers off), and
 * end-to-end runs through gateway + 2 workers + the Graph API fake (echoes on, like
 * Facebook). Every end-to-end scenario also audits the promises: order, duplicates, losses.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { Session } from 'node:inspector';
import path from 'node:path';
import { RoleProcess } from '../test/helpers/procs';
import { PAGES, problems, startPipeline, type Pipeline } from '../test/helpers/pipeline';
import { chatlogCompleteness } from './chatlog';
import type { BenchServers } from './env';
import { flame } from './flame';
import { addChurn, churnCounters } from './recovery';
import { closedLoop, openLoop, quantiles, Users, type LoadResult } from './load';
import { cpuMeter as meterOf, prefix, redisMeter, replyFigures, type Result } from './meters';

/** CPU per role of a pipeline: gateway, workers, Redis (and the harness, this process). */
export const cpuMeter = (p: Pipeline, redisPid: number | undefined) => meterOf({ gateway: [p.gateway.child.pid], workers: p.workers.map((w) => w.child.pid), redis: [redisPid] });

async function bare(): Promise<RoleProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(__dirname, 'bare.ts')], { stdio: ['ignore', 'pipe', 'pipe'] });
  return new RoleProcess('bare-express', child).ready();
}

export async function httpCeiling(_s: BenchServers, quick: boolean): Promise<Result> {
  const p = await bare();
  try {
    await closedLoop(p.url, { clients: 32, seconds: 1, users: new Users(1_000, PAGES) }); // warm-up
    const r = await closedLoop(p.url, { clients: 32, seconds: quick ? 3 : 8, users: new Users(1_000, PAGES) });
    return { requests_per_s: Math.round(r.requests / r.seconds), ...prefix('ack_ms_', quantiles(r.ackMs)) };
  } finally {
    await p.stop();
  }
}

export async function pipeline(s: BenchServers, label: string, workers: number, env: Record<string, string> = {}, profile = false, databaseUrl?: string): Promise<Pipeline> {
  const nodeArgs = profile && s.profileDir ? ['--cpu-prof', `--cpu-prof-dir=${path.join(s.profileDir, label)}`] : [];
  return startPipeline(
    `bench-${label}`,
    { REDIS_URL: s.redis.url },
    { workers, dir: path.join(s.tmp, label), nodeArgs, env: { SEND_ECHO_GRACE_MS: '5000', LOCK_TTL_MS: '10000', WORKER_POLL_MS: '5', ...env, ...s.env }, ...(databaseUrl ? { databaseUrl } : {}) },
  );
}

/** Profiles this process (load generator and Graph API fake) with the inspector while `run` runs. */
async function profiled<T>(file: string | undefined, run: () => Promise<T>): Promise<T> {
  if (!file) return run();
  const session = new Session();
  session.connect();
  const post = (method: string) => new Promise<unknown>((resolve, reject) => session.post(method, (err, r) => (err ? reject(err) : resolve(r))));
  await post('Profiler.enable');
  await post('Profiler.start');
  try {
    return await run();
  } finally {
    const { profile } = (await post('Profiler.stop')) as { profile: unknown };
    fs.writeFileSync(file, JSON.stringify(profile));
    session.disconnect();
  }
}

/** Renders flame graphs of the roles' profiles, restricted to the load window (hrtime µs). */
function renderProfiles(dir: string, label: string, p: Pipeline, window: { from: number; to: number }): void {
  const out = path.join(__dirname, 'profiles');
  fs.mkdirSync(out, { recursive: true });
  const files = fs.readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'));
  const ofPid = (pid: number | undefined) => files.filter((f) => f.split('.')[3] === String(pid)).map((f) => path.join(dir, f));
  const roles: [string, string[]][] = [
    ['gateway', ofPid(p.gateway.child.pid)],
    ['workers', p.workers.flatMap((w) => ofPid(w.child.pid))],
    ['loadgen-and-fake', [path.join(dir, 'loadgen.cpuprofile')]],
  ];
  const text: string[] = [];
  for (const [role, list] of roles) {
    if (list.length === 0 || !list.every((f) => fs.existsSync(f))) continue;
    text.push(flame(list, { ...window, out: path.join(out, `${label}-${role}.svg`), title: `${label}: ${role} (--cpu-prof, load window only)`, top: 30 }), '');
  }
  fs.writeFileSync(path.join(out, `${label}-top.txt`), `${text.join('\n')}\n`);
  process.stderr.write(`[bench] flame graphs: bench/profiles/${label}-*.svg; self time:\n${text.join('\n')}\n`);
}

export async function ingest(s: BenchServers, quick: boolean, before: Record<string, Result>): Promise<Result> {
  const p = await pipeline(s, 'ingest', 0);
  try {
    await closedLoop(p.gateway.url, { clients: 32, seconds: 1, users: new Users(1_000, PAGES) });
    const r = await closedLoop(p.gateway.url, { clients: 32, seconds: quick ? 3 : 8, users: new Users(1_000, PAGES) });
    const rps = r.requests / r.seconds;
    const half = await openLoop(p.gateway.url, { rate: Math.round(rps / 2), seconds: quick ? 3 : 8, users: new Users(2_000, PAGES) });
    const ceiling = before['http-ceiling']?.requests_per_s;
    return {
      requests_per_s: Math.round(rps),
      ...(ceiling ? { ratio_to_http_ceiling: Number((rps / ceiling).toFixed(2)) } : {}),
      ...prefix('ack_ms_', quantiles(r.ackMs)),
      half_load_rate: Math.round(rps / 2),
      ...prefix('half_load_ack_ms_', quantiles(half.ackMs)),
      non_200: Object.entries({ ...r.statuses, ...half.statuses })
        .filter(([k]) => k !== '200')
        .reduce((a, [, v]) => a + v, 0),
    };
  } finally {
    await p.stop();
  }
}

/** The gateway's own view of its ack latency (share of POSTs answered within 5 and 20 ms). */
async function serverAck(p: Pipeline): Promise<Result> {
  const text = await (await fetch(`${p.gateway.url}/metrics`)).text();
  const bucket = (le: string) => Number(new RegExp(`cb_webhook_ack_seconds_bucket\\{le="${le}"\\} (\\d+)`).exec(text)?.[1] ?? 0);
  const count = Number(/cb_webhook_ack_seconds_count (\d+)/.exec(text)?.[1] ?? 0);
  return count ? { server_ack_within_5ms: Number((bucket('0.005') / count).toFixed(3)), server_ack_within_20ms: Number((bucket('0.02') / count).toFixed(3)) } : {};
}

/** Replies' end-to-end latency (POST sent → Send API call received), the invariants, and lock churn. */
export async function settle(p: Pipeline, load: LoadResult, timeoutMs: number): Promise<Result> {
  const figures = await replyFigures(p.graph, load, timeoutMs, async (a) => void process.stderr.write(`[bench] promises broken: ${JSON.stringify(a)}\n${await problems(p, 40)}\n`));
  // Lock churn under load: locks lost by a live holder, workers presumed dead while alive.
  const churn: Record<string, number> = {};
  for (const w of p.workers) addChurn(churn, await churnCounters(w));
  return {
    ...figures,
    locks_lost: churn.cb_lock_lost_total ?? 0,
    fenced: churn.cb_fenced_total ?? 0,
    lock_contention: churn.cb_lock_contention_total ?? 0,
    presumed_dead: churn.cb_worker_presumed_dead_total ?? 0,
    heartbeat_gaps_over_1s: churn.heartbeat_gaps_over_1s ?? 0,
    eventloop_lag_max_ms: churn.eventloop_lag_max_ms ?? 0,
  };
}

export async function e2eMax(s: BenchServers, quick: boolean, before: Record<string, Result>): Promise<Result> {
  const p = await pipeline(s, 'e2e', 2, {}, true);
  const dir = s.profileDir && path.join(s.profileDir, 'e2e');
  if (dir) fs.mkdirSync(dir, { recursive: true });
  let window: { from: number; to: number } | undefined;
  try {
    const total = quick ? 5_000 : 20_000;
    const cpu = cpuMeter(p, s.redis.pid);
    const rstats = await redisMeter(s.redis.url);
    const from = Number(process.hrtime.bigint() / 1000n);
    const r = await profiled(dir && path.join(dir, 'loadgen.cpuprofile'), async () => {
      const load = await closedLoop(p.gateway.url, { clients: 32, total, users: new Users(1_000, PAGES) });
      const settled = await settle(p, load, 120_000);
      window = { from, to: Number(process.hrtime.bigint() / 1000n) - 1_000_000 }; // settle's last second waits for late duplicates
      return { ...settled, ...cpu(total), ...(await rstats(total)) };
    });
    // The protocol ceiling does a message's HTTP work and nothing else (bench/protocol.ts).
    const ceiling = before['protocol-ceiling']?.messages_per_s;
    return { ...r, ...(ceiling ? { ratio_to_protocol_ceiling: Number((r.messages_per_s! / ceiling).toFixed(2)) } : {}) };
  } finally {
    await p.stop();
    if (dir && window) renderProfiles(dir, 'e2e-max', p, window);
  }
}

async function steady(s: BenchServers, quick: boolean, rate: number, name: string): Promise<Result> {
  const label = `steady${rate}`;
  // In e2e-light the chatlog role runs too (into the durable PostgreSQL): every message and
  // reply must get exactly one row. Its CPU is not in the per-message figures.
  const withChatlog = name === 'e2e-light';
  const dbUrl = withChatlog ? await s.pg.createDatabase(`bench_${label}_${Date.now() % 100000}`) : undefined;
  const p = await pipeline(s, label, 2, {}, true, dbUrl);
  const dir = s.profileDir && path.join(s.profileDir, label);
  if (dir) fs.mkdirSync(dir, { recursive: true });
  let window: { from: number; to: number } | undefined;
  try {
    // CPU per message at a fixed rate below saturation: what each role costs, less at the
    // mercy of a noisy machine than a throughput figure.
    const cpu = cpuMeter(p, s.redis.pid);
    const rstats = await redisMeter(s.redis.url);
    const from = Number(process.hrtime.bigint() / 1000n);
    return await profiled(dir && path.join(dir, 'loadgen.cpuprofile'), async () => {
      const load = await openLoop(p.gateway.url, { rate, seconds: quick ? 5 : 15, users: new Users(1_000, PAGES) });
      const settled = await settle(p, load, 180_000);
      window = { from, to: Number(process.hrtime.bigint() / 1000n) - 1_000_000 };
      const costs = { ...cpu(load.sent.length), ...(await rstats(load.sent.length)) };
      const log = dbUrl ? await chatlogCompleteness(dbUrl, 2 * load.sent.length, 60_000) : {};
      return { rate, ...settled, ...log, ...prefix('ack_ms_', quantiles(load.ackMs)), ...(await serverAck(p)), generator_behind: load.behind ?? 0, ...costs };
    });
  } finally {
    await p.stop();
    if (dir && window) renderProfiles(dir, name, p, window);
  }
}

export const e2eSteady = (s: BenchServers, quick: boolean) => steady(s, quick, 1_000, 'e2e-steady');
export const e2eLight = (s: BenchServers, quick: boolean) => steady(s, quick, 200, 'e2e-light');

/**
 * `e2e-50`, `e2e-80`: the latency a user sees under real load rather than at saturation — a
 * fixed rate at that share of the e2e-max measured in the same run (run first when needed).
 */
export const e2eAt =
  (share: number) =>
  async (s: BenchServers, quick: boolean, before: Record<string, Result>): Promise<Result> => {
    const max = before['e2e-max']?.messages_per_s;
    if (!max) throw new Error(`e2e-${share * 100} runs at a share of e2e-max, measured in the same run`);
    return { share_of_e2e_max: share, ...(await steady(s, quick, Math.round(max * share), `e2e-${share * 100}`)) };
  };

export async function burst(s: BenchServers, quick: boolean): Promise<Result> {
  const p = await pipeline(s, 'burst', 2);
  try {
    // 20 users send 50 messages each, as fast as their POSTs are acknowledged.
    const load = await closedLoop(p.gateway.url, { clients: 20, total: quick ? 400 : 1_000, users: new Users(20, PAGES) });
    return await settle(p, load, 120_000);
  } finally {
    await p.stop();
  }
}

export async function slowSend(s: BenchServers, quick: boolean): Promise<Result> {
  const p = await pipeline(s, 'slow', 2, { WORKER_CONCURRENCY: '600' });
  p.graph.latencyMs = 200;
  try {
    const total = quick ? 3_000 : 10_000;
    const cpu = cpuMeter(p, s.redis.pid); // is it the CPU or the latency that caps it?
    const load = await closedLoop(p.gateway.url, { clients: 64, total, users: new Users(1_000, PAGES) });
    return { send_api_latency_ms: 200, active_users: 1_000, ...(await settle(p, load, 180_000)), ...cpu(total) };
  } finally {
    await p.stop();
  }
}

export async function manyUsers(s: BenchServers, quick: boolean): Promise<Result> {
  const p = await pipeline(s, 'many', 2);
  try {
    const users = quick ? 5_000 : 10_000;
    const load = await closedLoop(p.gateway.url, { clients: 32, total: users, users: new Users(users, PAGES) });
    return { conversations: users, ...(await settle(p, load, 180_000)) };
  } finally {
    await p.stop();
  }
}
