/**
 * `idle`: what the product costs with no traffic at all — the gateway, two workers and Redis
 * (as in e2e-max) left alone after a warm-up burst of messages. Every figure is per second:
 * CPU ms per role, Redis commands and script calls. What it measures is the price of waiting
 * for work (the workers' polling rounds, heartbeats, the Redis clock), which below saturation is
 * shared by fewer messages.
 */
import type { BenchServers } from './env';
import { closedLoop, Users } from './load';
import type { Result } from './meters';
import { cpuMeter, pipeline, settle } from './pipeline';
import { redisMeter } from './meters';
import { PAGES } from '../test/helpers/pipeline';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function idle(s: BenchServers, quick: boolean): Promise<Result> {
  const p = await pipeline(s, 'idle', 2);
  try {
    // Warm up: every worker claims, answers and goes idle again.
    const warm = await closedLoop(p.gateway.url, { clients: 8, total: 200, users: new Users(100, PAGES) });
    const warmed = await settle(p, warm, 60_000);
    await sleep(2_000);
    const seconds = quick ? 5 : 15;
    const cpu = cpuMeter(p, s.redis.pid);
    const rstats = await redisMeter(s.redis.url);
    await sleep(seconds * 1_000);
    // Per "message" with one message a second: per second.
    const costs = { ...cpu(seconds), ...(await rstats(seconds)) };
    const perSecond = Object.fromEntries(
      Object.entries(costs)
        .filter(([k]) => /^(cpu_ms|writes|redis_commands|redis_scripts|redis_reads)_per_message/.test(k) && k !== 'cpu_ms_per_message')
        .map(([k, v]) => [k.replace('_per_message', '_per_s'), v]),
    );
    return { idle_seconds: seconds, warmup_lost: warmed.lost ?? 0, warmup_duplicates: warmed.duplicates ?? 0, ...perSecond };
  } finally {
    await p.stop();
  }
}
