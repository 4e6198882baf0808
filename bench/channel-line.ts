/**
 * `channel-line`: a short end-to-end run on LINE — LINE-signed webhook POSTs (5 % redelivered)
 * through a gateway and two workers to the LINE fake's push API — with the audit of the
 * promises (read from the fake's accepted pushes, by retry key): throughput with users sending as
 * fast as LINE's POSTs are acknowledged, then the latency from a message's first POST to LINE
 * accepting its reply at a light load.
 */
import fs from 'node:fs';
import path from 'node:path';
import { lineRetryKey } from '../src/channels/line/retry-key';
import { FakeLine } from '../src/dev/fake-line';
import { LINE_CHANNELS, lineChannelsFile, lineDriver } from '../test/helpers/line';
import { audit, sendLoad, startPipeline, waitForReplies } from '../test/helpers/pipeline';
import type { BenchServers } from './env';
import { quantiles } from './load';

export async function channelLine(s: BenchServers, quick: boolean): Promise<Record<string, number>> {
  const fake = new FakeLine({ channels: LINE_CHANNELS });
  const dir = path.join(s.tmp, 'line');
  fs.mkdirSync(dir, { recursive: true });
  const p = await startPipeline('bench-line', { REDIS_URL: s.redis.url }, { workers: 2, dir, env: { CHANNELS_FILE: lineChannelsFile(dir), LINE_API_URL: await fake.listen(), LOCK_TTL_MS: '10000' } });
  try {
    const sentAt = new Map<string, number>();
    const driver = lineDriver(fake, LINE_CHANNELS, 10, (ids, at) => ids.forEach((id) => sentAt.set(id, at)));
    // Throughput: every user's next message as soon as LINE's POST of the previous one is acknowledged.
    const users = quick ? 200 : 1_000;
    const perUser = 5;
    const t0 = Date.now();
    const load = await sendLoad(p.gateway.url, { users, perUser, redeliver: 0.05, driver, concurrency: 32 });
    await waitForReplies(driver, load.expected, 120_000);
    const last = Math.max(...fake.pushes.map((x) => x.at));
    // Latency below saturation (after the run above warmed every process): 20 users, a message each every 300 ms.
    const accepted = fake.pushes.length;
    const pace = () => new Promise<void>((r) => setTimeout(r, 300));
    const light = await sendLoad(p.gateway.url, { users: 20, perUser: quick ? 5 : 15, driver, userPrefix: 'light', onRound: pace });
    await waitForReplies(driver, light.expected, 60_000);
    await new Promise((r) => setTimeout(r, 1_000)); // late duplicates show up here
    const expected = new Map([...load.expected, ...light.expected]);
    const a = audit(driver, expected);
    const byKey = new Map([...sentAt].flatMap(([id]) => LINE_CHANNELS.map((c) => [lineRetryKey(c.id, `${id}#0`), id] as const)));
    const latencies = fake.pushes.slice(accepted).flatMap((x) => {
      const id = x.retryKey && byKey.get(x.retryKey);
      return id ? [x.at - sentAt.get(id)!] : [];
    });
    const total = [...expected.values()].reduce((n, ids) => n + ids.length, 0);
    return {
      messages: total,
      messages_per_s: Math.round((users * perUser) / ((last - t0) / 1000)),
      ...Object.fromEntries(Object.entries(quantiles(latencies)).map(([k, v]) => [`light_e2e_ms_${k}`, v])),
      redelivered_posts: load.redelivered,
      already_accepted_409: fake.conflicts.length,
      order_violations: a.outOfOrder,
      duplicates: a.duplicates + (fake.pushes.length - total),
      lost: a.lost,
    };
  } finally {
    await p.stop();
    await fake.close();
  }
}
