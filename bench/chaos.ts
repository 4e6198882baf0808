/**
 * `npm run chaos [-- --quick]`: steady load through gateway, 2 workers and the chatlog role
 * while faults hit: workers SIGKILLed every 10 s (and restarted), Redis restarted (AOF),
 * PostgreSQL stopped for 30 s, and the Graph API fake answering 10% 5xx, 1% never, plus a
 * burst of error 613. Then it counts what users and the chatlog saw: lost, duplicated and
 * out-of-order replies, missing chatlog rows, and how long replies took to resume after
 * each fault. Exits 1 if any count is not 0. Writes bench/results/chaos.{json,md}.
 */
import fs from 'node:fs';
import path from 'node:path';
import { audit, PAGES, startPipeline, waitForReplies } from '../test/helpers/pipeline';
import { chatlogCompleteness } from './chatlog';
import { machine, startServers } from './env';
import { openLoop, Users } from './load';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function main(): Promise<void> {
  const quick = process.argv.includes('--quick');
  const seconds = quick ? 60 : 120;
  const rate = 100;
  const servers = await startServers();
  const dbUrl = await servers.pg.createDatabase('chaos');
  const p = await startPipeline('chaos', { REDIS_URL: servers.redis.url }, {
    dir: path.join(servers.tmp, 'chaos'),
    databaseUrl: dbUrl,
    env: { SEND_TIMEOUT_MS: '2000', SEND_ECHO_GRACE_MS: '5000', LOCK_TTL_MS: '5000', SEND_MAX_ATTEMPTS: '3', SEND_RETRY_LATER_MS: '1000' },
  });
  p.graph.randomFaults = { errorRate: 0.1, timeoutRate: 0.01 };
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
    let kills = 0;
    while (running) {
      await sleep(10_000);
      if (!running) break;
      const elapsed = (Date.now() - t0) / 1000;
      const alive = p.workers.filter((w) => w.child.exitCode === null && w.child.signalCode === null);
      const victim = alive[Math.floor(Math.random() * alive.length)];
      if (victim) {
        const f = mark(`SIGKILL ${victim.name}`);
        await victim.kill('SIGKILL');
        await p.startWorker(`worker-r${++kills}`);
        f.endedAt = Date.now() - t0;
      }
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
  // Replies that went out while each fault lasted, and how soon after its end they flowed again.
  const replyTimes = p.graph.messages.map((c) => c.at - t0).sort((x, y) => x - y);
  const recovery = faults.map((f) => {
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
    webhook_non_200_retried: Object.entries(load.statuses).filter(([k]) => k !== '200').reduce((s, [, v]) => s + v, 0),
    recovery,
  };
  const dir = path.join(__dirname, 'results');
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'chaos.json'), `${JSON.stringify(result, null, 2)}\n`);
  const md = [
    `Machine: ${result.machine.cpu}, ${result.machine.cores} cores; ${result.machine.date}; ${seconds} s at ${rate} messages/s${quick ? ' (--quick)' : ''}`,
    '',
    `| messages | lost | duplicates | out of order | chatlog rows missing | duplicate reply rows | webhook POSTs refused and retried |`,
    `|---|---|---|---|---|---|---|`,
    `| ${result.messages} | ${result.lost} | ${result.duplicates} | ${result.order_violations} | ${result.chatlog_rows_missing} | ${result.chatlog_duplicate_reply_rows} | ${result.webhook_non_200_retried} |`,
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
