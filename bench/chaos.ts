/**
 * `npm run chaos [-- --quick] [NAME=value…]`: steady load through gateway, 2 workers and the
 * chatlog role while faults hit: workers SIGKILLed every 10 s (and restarted), Redis restarted
 * (AOF), PostgreSQL stopped for 30 s, and the Graph API fake answering 10% 5xx, 1% never, plus
 * a burst of error 613. Then it counts what users and the chatlog saw: lost, duplicated and
 * out-of-order replies, missing chatlog rows; for each kill, how soon the victim's
 * conversations resumed on another worker and got their replies (bench/recovery.ts defines
 * both); for the other faults, how soon replies flowed after each ended; and the counters of
 * lock churn. NAME=value arguments go to every role's environment (A/B runs, e.g.
 * WORKER_DEAD_AFTER_MS=0). Exits 1 if any count is not 0. Writes bench/results/chaos.{json,md}.
 */
import fs from 'node:fs';
import path from 'node:path';
import { audit, PAGES, startPipeline, waitForReplies } from '../test/helpers/pipeline';
import { chatlogCompleteness } from './chatlog';
import { machine, startServers } from './env';
import { openLoop, quantiles, Users } from './load';
import { addChurn, churnCounters, KillProbe, workerIdOf, type KillRecord } from './recovery';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function main(): Promise<void> {
  const quick = process.argv.includes('--quick');
  const overrides = Object.fromEntries(
    process.argv
      .slice(2)
      .filter((a) => /^[A-Z_]+=/.test(a))
      .map((a) => [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)]),
  );
  const seconds = quick ? 60 : 120;
  const rate = 100;
  const servers = await startServers();
  const dbUrl = await servers.pg.createDatabase('chaos');
  // The lease, lock TTL and heartbeat are the product's defaults (the test pipeline's short
  // LOCK_TTL_MS is put back): recovery is measured as shipped.
  const p = await startPipeline(
    'chaos',
    { REDIS_URL: servers.redis.url },
    {
      dir: path.join(servers.tmp, 'chaos'),
      databaseUrl: dbUrl,
      env: { SEND_TIMEOUT_MS: '2000', SEND_ECHO_GRACE_MS: '5000', LOCK_TTL_MS: '10000', SEND_MAX_ATTEMPTS: '3', SEND_RETRY_LATER_MS: '1000', ...overrides },
    },
  );
  const probe = new KillProbe(servers.redis.url, p.prefix);
  const kills: KillRecord[] = [];
  const churn: Record<string, number> = {};
  const count = async (role: (typeof p.workers)[number]) => void addChurn(churn, await churnCounters(role));
  p.graph.randomFaults = { errorRate: 0.1, timeoutRate: 0.01 };
  p.graph.latencyMs = 100; // about Facebook's: each kill catches conversations mid-visit
  const t0 = Date.now();
  const faults: { at: number; what: string; endedAt?: number }[] = [];
  const mark = (what: string) => {
    const f: { at: number; what: string; endedAt?: number } = { at: Date.now() - t0, what };
    faults.push(f);
    process.stderr.write(`[chaos] ${f.at} ms: ${what}\n`);
    return f;
  };
  let running = true;
  const chaos = (async () => {
    while (running) {
      await sleep(10_000);
      if (!running) break;
      const elapsed = (Date.now() - t0) / 1000;
      const alive = p.workers.filter((w) => w.child.exitCode === null && w.child.signalCode === null);
      const victim = alive[Math.floor(Math.random() * alive.length)];
      if (victim) {
        await count(victim); // its counters die with it
        const f = mark(`SIGKILL ${victim.name}`);
        kills.push(await probe.kill(victim, workerIdOf(victim)));
        await p.startWorker(`worker-r${kills.length}`);
        f.endedAt = Date.now() - t0;
      }
      // Other faults come halfway to the next kill, so each kill's recovery is its own.
      const due = (what: string, share: number) => elapsed > seconds * share && !faults.some((x) => x.what.startsWith(what));
      if (due('redis', 0.2) || due('postgres', 0.35) || due('graph 613', 0.5)) await sleep(5_000);
      if (elapsed > seconds * 0.2 && !faults.some((x) => x.what.startsWith('redis'))) {
        const f = mark('redis restart (SIGTERM, AOF)');
        await servers.redis.stop();
        await sleep(2_000);
        await servers.redis.start();
        f.endedAt = Date.now() - t0;
      }
      if (elapsed > seconds * 0.35 && !faults.some((x) => x.what.startsWith('postgres'))) {
        const f = mark('postgres stopped for 30 s');
        await servers.pg.stop();
        setTimeout(() => void servers.pg.start().then(() => (f.endedAt = Date.now() - t0)), 30_000);
      }
      if (elapsed > seconds * 0.5 && !faults.some((x) => x.what.startsWith('graph 613'))) {
        mark('graph 613 burst (30 calls)');
        p.graph.failNext(30, { kind: 'error', status: 400, code: 613 });
      }
    }
  })();
  const load = await openLoop(p.gateway.url, { rate, seconds, users: new Users(300, PAGES), retry: true });
  running = false;
  await chaos;
  const expected = new Map<string, string[]>();
  for (const x of load.sent) expected.set(x.key, [...(expected.get(x.key) ?? []), x.mid]);
  await waitForReplies(p.graph, expected, 180_000);
  await sleep(6_000); // past the echo grace: a wrong resend would show up now
  const a = audit(p.graph, expected);
  const sentAt = new Map(load.sent.map((x) => [x.mid, x.at]));
  const e2e = p.graph.calls.filter((c) => c.metadata?.mid && sentAt.has(c.metadata.mid)).map((c) => c.at - sentAt.get(c.metadata!.mid!)!);
  const latency = { ...quantiles(e2e), max: Math.max(...e2e) };
  const killed = kills.map((k) => ({ fault: `SIGKILL ${k.victim}`, at_ms: k.at - t0, ...KillProbe.report(k, p.graph, load.sent) }));
  for (const w of p.workers.filter((x) => x.child.exitCode === null && x.child.signalCode === null)) await count(w);
  // Replies that went out while each other fault lasted, and how soon after its end they flowed again.
  const replyTimes = p.graph.messages.map((c) => c.at - t0).sort((x, y) => x - y);
  const recovery = faults
    .filter((f) => !f.what.startsWith('SIGKILL'))
    .map((f) => {
      const end = f.endedAt ?? f.at;
      return {
        fault: f.what,
        at_ms: f.at,
        lasted_ms: end - f.at,
        replies_during: replyTimes.filter((t) => t >= f.at && t <= end).length,
        next_reply_after_end_ms: (replyTimes.find((t) => t > end) ?? NaN) - end,
      };
    });
  const log = await chatlogCompleteness(dbUrl, 2 * load.sent.length, 120_000);
  await probe.stop();
  await p.stop();
  await servers.stop();
  const result = {
    machine: machine(servers.pg),
    seconds,
    rate,
    messages: load.sent.length,
    lost: a.lost,
    duplicates: a.duplicates,
    order_violations: a.outOfOrder,
    ...log,
    webhook_non_200_retried: Object.entries(load.statuses)
      .filter(([k]) => k !== '200')
      .reduce((s, [, v]) => s + v, 0),
    e2e_ms: latency,
    env: overrides,
    churn,
    kills: killed,
    recovery,
  };
  const worst = Math.max(0, ...killed.map((k) => k.resumed_max_ms));
  const dir = path.join(__dirname, 'results');
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'chaos.json'), `${JSON.stringify(result, null, 2)}\n`);
  const ms = (x: number) => (x ? `${(x / 1000).toFixed(2)} s` : '—');
  const md = [
    `Machine: ${result.machine.cpu}, ${result.machine.cores} cores; ${result.machine.date}; ${seconds} s at ${rate} messages/s${quick ? ' (--quick)' : ''}${
      Object.keys(overrides).length
        ? `; ${Object.entries(overrides)
            .map(([k, v]) => `${k}=${v}`)
            .join(' ')}`
        : ''
    }`,
    '',
    `| messages | lost | duplicates | out of order | chatlog rows missing | duplicate reply rows | webhook POSTs refused and retried | reply latency p50 / p99 / max |`,
    `|---|---|---|---|---|---|---|---|`,
    `| ${result.messages} | ${result.lost} | ${result.duplicates} | ${result.order_violations} | ${result.chatlog_rows_missing} | ${result.chatlog_duplicate_reply_rows} | ${result.webhook_non_200_retried} | ${latency.p50} / ${latency.p99} / ${latency.max} ms |`,
    '',
    `Worker kills (SIGSTOP, note what it held, SIGKILL; definitions in bench/recovery.ts). Slowest resumption over all kills: ${ms(worst)} (target < 3 s).`,
    '',
    '| kill | at | conversations held | handed over by the reaper | resumed on another worker (median / max) | reply owed, first sent (max) | mid-send at the kill: count, first reply (max) |',
    '|---|---|---|---|---|---|---|',
    ...killed.map(
      (k) =>
        `| ${k.fault} | ${(k.at_ms / 1000).toFixed(1)} s | ${k.held} | ${ms(k.handed_over_ms)} | ${ms(k.resumed_median_ms)} / ${ms(k.resumed_max_ms)}${k.not_resumed ? ` (${k.not_resumed} never)` : ''} | ${ms(k.reply_max_ms)} | ${k.mid_send}, ${ms(k.mid_send_reply_max_ms)} |`,
    ),
    '',
    `Lock churn, summed over every worker: ${Object.entries(churn)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}`,
    '',
    '| fault | at | lasted | replies sent meanwhile | next reply after it ended |',
    '|---|---|---|---|---|',
    ...recovery.map((r) => `| ${r.fault} | ${(r.at_ms / 1000).toFixed(1)} s | ${r.lasted_ms} ms | ${r.replies_during} | ${Number.isNaN(r.next_reply_after_end_ms) ? '—' : `${r.next_reply_after_end_ms} ms`} |`),
    '',
  ].join('\n');
  fs.writeFileSync(path.join(dir, 'chaos.md'), md);
  process.stdout.write(`${md}\n`);
  const ok = result.lost + result.duplicates + result.order_violations + result.chatlog_rows_missing + result.chatlog_duplicate_reply_rows === 0;
  process.exit(ok ? 0 : 1);
}

main().catch((err) => {
  process.stderr.write(`[chaos] failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
