/**
 * `npm run bench -- peer`: the nearest peer under the same load. Bottender (the Node.js bot
 * framework, version PEER_VERSION) is installed from npm into a folder of the OS temp dir —
 * never into this project's dependencies or lockfile — and run as `bottender start` runs it
 * (express, body-parser, its request handler; NODE_ENV=production, in-memory sessions) with
 * an echo bot equivalent to ours: for each user text it sends `mark_seen` (not awaited, as
 * ours) and the reply, carrying the same metadata, so the audit reads both the same way. Its
 * Messenger connector takes the pages' tokens by `mapPageToAccessToken` and the Graph API
 * fake's origin (both documented options); it verifies the X-Hub-Signature (sha1) of every
 * POST. Then e2e-max's load generator, 32 closed-loop clients and 1,000 users over the same
 * four pages, and the same fake posting echoes back. Reported beside e2e-max of the same run:
 * messages/s, latency, CPU per message and the audit, order included — Bottender has no
 * per-user queue, so a user's messages may be answered out of order.
 */
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { FakeGraph } from '../src/dev/fake-graph';
import { APP_SECRET, VERIFY_TOKEN } from '../test/helpers/fb';
import { PAGES } from '../test/helpers/pipeline';
import { RoleProcess } from '../test/helpers/procs';
import type { BenchServers } from './env';
import { closedLoop, Users } from './load';
import { cpuMeter, replyFigures, type Result } from './meters';

export const PEER_VERSION = '1.5.5';

const CONFIG = `module.exports = {
  session: { driver: 'memory' },
  channels: {
    messenger: {
      enabled: true,
      path: '/webhook',
      appId: '1',
      appSecret: process.env.APP_SECRET,
      verifyToken: process.env.VERIFY_TOKEN,
      origin: process.env.GRAPH_ORIGIN,
      mapPageToAccessToken: async (pageId) => 'token-' + pageId,
    },
  },
};
`;

const BOT = `module.exports = async function App(context) {
  const { event } = context;
  if (event.isEcho || !event.isText) return;
  context.markSeen().catch(() => undefined);
  await context.sendMessage(
    { text: 'You said: "' + event.text + '"', metadata: JSON.stringify({ mid: event.message.mid, i: 0 }) },
    { messagingType: 'RESPONSE' },
  );
};
`;

/** Bottender in a folder of its own (installed once, reused by later runs); returns the folder. */
function install(): string {
  const dir = path.join(os.tmpdir(), 'cb-bench-peer', `bottender-${PEER_VERSION}`);
  const installed = path.join(dir, 'node_modules', 'bottender', 'package.json');
  if (!fs.existsSync(installed) || JSON.parse(fs.readFileSync(installed, 'utf8')).version !== PEER_VERSION) {
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'package.json'), '{ "private": true }\n');
    process.stderr.write(`[bench] installing bottender@${PEER_VERSION} into ${dir}\n`);
    // --ignore-scripts: its ngrok dependency downloads a tunnel binary at install, not needed here.
    execFileSync('npm', ['install', '--no-save', '--no-package-lock', '--no-audit', '--no-fund', '--ignore-scripts', `bottender@${PEER_VERSION}`], { cwd: dir, stdio: ['ignore', 'ignore', 'inherit'] });
  }
  fs.writeFileSync(path.join(dir, 'bottender.config.js'), CONFIG);
  fs.writeFileSync(path.join(dir, 'index.js'), BOT);
  return dir;
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** `bottender start`, ready once it says it listens. */
async function startPeer(dir: string, graphUrl: string): Promise<RoleProcess> {
  const port = await freePort();
  const child = spawn(process.execPath, [path.join(dir, 'node_modules', 'bottender', 'bin', 'cli.js'), 'start', '--port', String(port)], {
    cwd: dir,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', NODE_ENV: 'production', APP_SECRET, VERIFY_TOKEN, GRAPH_ORIGIN: new URL(graphUrl).origin },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const peer = new RoleProcess('bottender', child);
  const end = Date.now() + 30_000;
  while (!peer.output.some((l) => l.includes('server is running'))) {
    if (child.exitCode !== null || Date.now() > end) throw new Error(`bottender did not start:\n${peer.output.slice(-20).join('\n')}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  peer.port = port;
  return peer;
}

export async function peer(_s: BenchServers, quick: boolean, before: Record<string, Result>): Promise<Result> {
  const dir = install();
  const graph = new FakeGraph({ tokens: new Map(PAGES.map((id) => [`token-${id}`, id])) });
  const graphUrl = await graph.listen();
  const p = await startPeer(dir, graphUrl);
  graph.setEcho({ webhookUrl: `${p.url}/webhook`, appSecret: APP_SECRET });
  try {
    const total = quick ? 5_000 : 20_000;
    const cpu = cpuMeter({ peer: [p.child.pid] });
    const load = await closedLoop(p.url, { clients: 32, total, users: new Users(1_000, PAGES) });
    const figures = await replyFigures(graph, load, 120_000);
    const ours = before['e2e-max']?.messages_per_s;
    return {
      ...figures,
      ...cpu(total),
      non_200: Object.entries(load.statuses)
        .filter(([k]) => k !== '200')
        .reduce((a, [, v]) => a + v, 0),
      ...(ours ? { e2e_max_to_peer: Number((ours / figures.messages_per_s!).toFixed(2)) } : {}),
    };
  } finally {
    await p.stop();
    await graph.close();
  }
}
