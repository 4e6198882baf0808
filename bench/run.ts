/**
 * `npm run bench [-- --quick] [scenario…]`: runs the benchmark scenarios on real servers it
 * starts itself and prints a table. Figures are
 * reported with the machine they ran on and, where a scenario has one, as a ratio to a
 * baseline measured in the same run, so they mean something on any machine. A full run
 * writes bench/results/latest.*; `--quick` or a chosen subset writes bench/results/partial.*.
 * `--profile` runs the roles of e2e-max and the fixed-rate scenarios under `--cpu-prof` (the load generator and the Graph
 * API fake under the inspector) and renders flame graphs of the load window to bench/profiles/.
 * `NAME=value` arguments go to every role's environment (A/B runs, e.g. LOCK_TTL_MS=2000).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { channelWhatsApp } from './channel-whatsapp';
import { channelInstagram } from './channel-instagram';
import { chatlogIngest, chatlogLag } from './chatlog';
import { chatlogMemory } from './chatlog-memory';
import { nlu } from './nlu';
import { burst, e2eAt, e2eLight, e2eMax, e2eSteady, httpCeiling, ingest, manyUsers, slowSend } from './pipeline';
import { peer } from './peer';
import { idle } from './idle';
import { protocolCeiling } from './protocol-ceiling';
import { chartSvg } from './chart';
import { workerKill } from './recovery';
import { channelLine } from './channel-line';
import { webchat } from './channel-webchat';
import { machine, startServers, type BenchServers } from './env';

type Scenario = (servers: BenchServers, quick: boolean, before: Record<string, Record<string, number>>) => Promise<Record<string, number>>;

/** `needs`: scenarios whose figures this one is measured against, run first (in the same run) when not asked for. */
const SCENARIOS: Record<string, { run: Scenario; target: string; needs?: string[] }> = {
  'http-ceiling': { run: httpCeiling, target: 'baseline: bare express, same load generator' },
  'protocol-ceiling': { run: protocolCeiling, target: "baseline: a message's HTTP work alone (signed POST in, mark_seen + Send API call, echo POST in) on bare node:http, same generator and fake" },
  ingest: { run: ingest, target: '≥ 70% of the ceiling; p99 ack ≤ 20 ms at half that load' },
  'e2e-max': { run: e2eMax, target: '≥ 60% of the protocol ceiling; product CPU ≤ 1.0 ms per message; 0 violations', needs: ['protocol-ceiling'] },
  'e2e-50': { run: e2eAt(0.5), target: 'p99 ≤ 100 ms at 50% of e2e-max; 0 violations', needs: ['e2e-max'] },
  'e2e-80': { run: e2eAt(0.8), target: 'e2e p50/p99 at 80% of e2e-max; 0 violations', needs: ['e2e-max'] },
  peer: { run: peer, target: 'Bottender 1.5.5 echo bot, same generator and fake: e2e-max ≥ 1.5× its messages/s; its order audited too', needs: ['e2e-max'] },
  idle: { run: idle, target: 'no traffic: CPU ms and Redis commands per second (the price of waiting for work)' },
  'e2e-steady': { run: e2eSteady, target: 'p99 ≤ 100 ms at 1,000 messages/s; 0 violations' },
  'e2e-light': { run: e2eLight, target: 'latency at 200 messages/s, below saturation; 0 violations; chatlog: one row per message and reply' },
  burst: { run: burst, target: '20 users × 50 messages at once: in order, 0 violations' },
  'slow-send': { run: slowSend, target: '≥ 1,000 messages/s with a 200 ms Send API, 1,000 users' },
  'many-users': { run: manyUsers, target: '10,000 conversations: 0 violations' },
  'worker-kill': { run: workerKill, target: '200 users × 10 messages, a worker SIGKILLed: its conversations resume < 3 s (lease alone, 2 s TTL, heartbeat); 0 violations' },
  'chatlog-ingest': { run: chatlogIngest, target: 'rows_per_s ≥ 5000' },
  'chatlog-lag': { run: chatlogLag, target: 'lag_p99_ms < 1000 at 1,000 messages/s' },
  'chatlog-memory': { run: chatlogMemory, target: 'Redis bytes per chatlog record and per message while no chatlog role runs (for docs/capacity.md)' },
  nlu: { run: nlu, target: 'predict p99 ≤ 1 ms with the bundled model; model load ≤ 1 s' },
  'channel-line': { run: channelLine, target: 'LINE end to end through its fake: 0 violations (audit by retry key)' },
  'channel-whatsapp': { run: channelWhatsApp, target: 'WhatsApp e2e through the Cloud API fake (statuses on): messages/s, p50/p99; 0 violations' },
  'channel-instagram': { run: channelInstagram, target: 'Instagram e2e beside Messenger, same load: 0 violations; ratio_to_messenger ≥ 0.4 (each Instagram echo is a worker pass)' },
  'channel-webchat': { run: webchat, target: 'sockets held per gateway, memory per socket; e2e p50/p99 per message at a steady rate; 0 violations' },
};

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const quick = args.includes('--quick');
  const env = Object.fromEntries(args.filter((a) => /^[A-Z_]+=/.test(a)).map((a) => [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)]));
  const names = args.filter((a) => !a.startsWith('--') && !/^[A-Z_]+=/.test(a));
  const unknown = names.filter((n) => !SCENARIOS[n]);
  if (unknown.length) throw new Error(`unknown scenario ${unknown.join(', ')}; known: ${Object.keys(SCENARIOS).join(', ')}`);
  // A scenario measured against another runs after it, in the same run.
  const order: string[] = [];
  const add = (n: string): void => {
    if (order.includes(n)) return;
    for (const need of SCENARIOS[n]!.needs ?? []) add(need);
    order.push(n);
  };
  for (const n of names.length ? names : Object.keys(SCENARIOS)) add(n);
  const servers = await startServers();
  servers.env = env;
  if (args.includes('--profile')) {
    servers.profileDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cb-profiles-'));
    process.stderr.write(`[bench] raw profiles in ${servers.profileDir}\n`);
  }
  const results: Record<string, Record<string, number> & { target?: string }> = {};
  try {
    for (const name of order) {
      process.stderr.write(`[bench] ${name}${quick ? ' (quick)' : ''}…\n`);
      results[name] = await SCENARIOS[name]!.run(servers, quick, results);
      process.stderr.write(`[bench] ${name}: ${JSON.stringify(results[name])}\n`);
    }
  } finally {
    await servers.stop().catch(() => undefined);
  }
  const m = machine(servers.pg);
  const report = { machine: m, quick, env, scenarios: results };
  const dir = path.join(__dirname, 'results');
  fs.mkdirSync(dir, { recursive: true });
  // Only a full run of every scenario replaces latest.*, the figures the README quotes.
  const base = !quick && names.length === 0 && Object.keys(env).length === 0 ? 'latest' : 'partial';
  fs.writeFileSync(path.join(dir, `${base}.json`), `${JSON.stringify(report, null, 2)}\n`);
  const md = [
    `Machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB; Node ${m.node}; Redis ${m.redis}; ${m.postgres}; ${m.date}${quick ? ' (--quick)' : ''}${Object.entries(env)
      .map(([k, v]) => `; ${k}=${v}`)
      .join('')}`,
    '',
    '| scenario | target | result |',
    '|---|---|---|',
    ...Object.entries(results).map(
      ([name, r]) =>
        `| ${name} | ${SCENARIOS[name]!.target} | ${Object.entries(r)
          .map(([k, v]) => `${k} ${v}`)
          .join(', ')} |`,
    ),
    '',
  ].join('\n');
  fs.writeFileSync(path.join(dir, `${base}.md`), md);
  fs.writeFileSync(path.join(dir, `${base}.svg`), chartSvg(results, `npm run bench${quick ? ' --quick' : ''} — ${m.cpu}, ${m.cores} cores — ${m.date.slice(0, 10)}`));
  process.stdout.write(`${md}\n`);
}

main().catch((err) => {
  process.stderr.write(`[bench] failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
