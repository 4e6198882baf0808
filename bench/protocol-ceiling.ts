/**
 * `protocol-ceiling`: what this machine and this harness allow when a message costs its HTTP
 * work alone — the signed POST in, `mark_seen` and the reply through the Send API, the echo
 * POSTed back (bench/bare-protocol.ts) — under e2e-max's load generator and Graph API fake.
 * e2e-max is reported as a ratio to it: the share of the protocol's own ceiling the product
 * keeps while it also queues, orders, dedupes, fences and logs.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { APP_SECRET } from '../test/helpers/fb';
import { PAGES } from '../test/helpers/pipeline';
import { RoleProcess } from '../test/helpers/procs';
import { FakeGraph } from '../src/dev/fake-graph';
import type { BenchServers } from './env';
import { closedLoop, Users } from './load';
import { cpuMeter, replyFigures, type Result } from './meters';

/** The pids the bare server's primary logged (its workers), for the CPU meter. */
function pidsOf(p: RoleProcess): number[] {
  for (const line of p.output) {
    try {
      const j = JSON.parse(line) as { msg?: string; pids?: number[] };
      if (j.msg === 'bench-ready' && j.pids) return j.pids;
    } catch {
      /* not a log line */
    }
  }
  return [];
}

export async function protocolCeiling(s: BenchServers, quick: boolean): Promise<Result> {
  const graph = new FakeGraph({ tokens: new Map(PAGES.map((id) => [`token-${id}`, id])) });
  const graphUrl = await graph.listen();
  const processes = s.env?.PROCESSES ?? '2';
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(__dirname, 'bare-protocol.ts')], {
    env: { PATH: process.env.PATH ?? '', PROCESSES: processes, APP_SECRET, GRAPH_API_URL: graphUrl, TOKENS: JSON.stringify(Object.fromEntries(PAGES.map((id) => [id, `token-${id}`]))) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const p = await new RoleProcess('bare-protocol', child).ready();
  graph.setEcho({ webhookUrl: `${p.url}/webhook`, appSecret: APP_SECRET });
  try {
    const total = quick ? 5_000 : 20_000;
    const cpu = cpuMeter({ bare: [child.pid, ...pidsOf(p)] });
    const load = await closedLoop(p.url, { clients: 32, total, users: new Users(1_000, PAGES) });
    const figures = await replyFigures(graph, load, 120_000);
    return { processes: Number(processes), ...figures, echoes: graph.echoesSent, ...cpu(total) };
  } finally {
    await p.stop();
    await graph.close();
  }
}
