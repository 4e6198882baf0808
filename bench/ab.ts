/**
 * `node --import tsx bench/ab.ts [-n PAIRS] <commit A> <commit B> [bench arguments…]`: an A/B
 * of the product at two commits, in the same time window, under this checkout's harness.
 *
 * Each commit is exported (`git archive`) to a temp folder whose `bench/` and `test/helpers/`
 * are replaced by this checkout's, so only the product differs; `node_modules` is linked. The
 * runs alternate A B B A A B… (drift in the machine's load favours neither side), each one
 * `bench/run.ts --quick <bench arguments>` (default: e2e-max). Prints each run's key figures,
 * the median of each side and B ÷ A; a shared machine makes single runs noisy, so quote the
 * medians with the ranges, and CPU per message before throughput.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '..');
const KEYS = [
  'messages_per_s',
  'cpu_ms_per_message_product',
  'cpu_ms_per_message_gateway',
  'cpu_ms_per_message_workers',
  'cpu_ms_per_message_redis',
  'cpu_ms_per_message_loadgen_and_fake',
  'writes_per_message_product',
  'writes_per_message_gateway',
  'writes_per_message_workers',
  'writes_per_message_redis',
  'redis_commands_per_message',
  'redis_scripts_per_message',
  'redis_reads_per_message',
  'e2e_ms_p50',
  'e2e_ms_p99',
  // idle: per second, no traffic
  'cpu_ms_per_s_product',
  'cpu_ms_per_s_gateway',
  'cpu_ms_per_s_workers',
  'cpu_ms_per_s_redis',
  'redis_commands_per_s',
  'redis_scripts_per_s',
];
const BROKEN = ['order_violations', 'duplicates', 'lost'];

type Figures = Record<string, Record<string, number>>;

function exportCommit(commit: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `cb-ab-${commit.slice(0, 12).replace(/[^\w.-]/g, '_')}-`));
  execFileSync('sh', ['-c', `git -C "${ROOT}" archive "${commit}" | tar -x -C "${dir}"`]);
  for (const sub of ['bench', 'test/helpers']) {
    fs.rmSync(path.join(dir, sub), { recursive: true, force: true });
    fs.cpSync(path.join(ROOT, sub), path.join(dir, sub), { recursive: true, filter: (src) => !/\/bench\/(results|profiles)(\/|$)/.test(src) });
  }
  fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'));
  return dir;
}

function runOnce(dir: string, args: string[]): Figures {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'bench/run.ts', '--quick', ...args], { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  if (r.status !== 0) throw new Error(`bench failed in ${dir}:\n${r.stderr.slice(-3000)}`);
  return (JSON.parse(fs.readFileSync(path.join(dir, 'bench', 'results', 'partial.json'), 'utf8')) as { scenarios: Figures }).scenarios;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const fmt = (n: number) => (Math.abs(n) >= 100 ? String(Math.round(n)) : n.toFixed(2));

function main(): void {
  const argv = process.argv.slice(2);
  let pairs = 3;
  const n = argv.indexOf('-n');
  if (n >= 0) {
    pairs = Number(argv[n + 1]);
    argv.splice(n, 2);
  }
  const [a, b, ...rest] = argv;
  if (!a || !b || !(pairs > 0)) {
    process.stderr.write('usage: bench/ab.ts [-n PAIRS] <commit A> <commit B> [bench arguments…]\n');
    process.exit(2);
  }
  const args = rest.length ? rest : ['e2e-max'];
  const dirs = { A: exportCommit(a), B: exportCommit(b) };
  const runs: { side: 'A' | 'B'; figures: Figures; at: string }[] = [];
  try {
    for (let i = 0; i < pairs; i++) {
      for (const side of (i % 2 === 0 ? ['A', 'B'] : ['B', 'A']) as ('A' | 'B')[]) {
        const at = new Date().toISOString().slice(11, 19);
        const figures = runOnce(dirs[side], args);
        runs.push({ side, figures, at });
        process.stderr.write(
          `[ab] ${side} ${at} ${Object.entries(figures)
            .map(
              ([s, f]) =>
                `${s}: ${KEYS.filter((k) => f[k] !== undefined)
                  .map((k) => `${k}=${f[k]}`)
                  .join(' ')}`,
            )
            .join(' | ')}\n`,
        );
      }
    }
  } finally {
    for (const dir of Object.values(dirs)) fs.rmSync(dir, { recursive: true, force: true });
  }
  const out = [`A = ${a}, B = ${b}; ${pairs} pairs of \`bench/run.ts --quick ${args.join(' ')}\`, ${runs[0]!.at}–${runs[runs.length - 1]!.at} UTC`, ''];
  for (const scenario of Object.keys(runs[0]!.figures)) {
    out.push(`${scenario}:`, '', '| figure | A runs | B runs | A median | B median | B ÷ A |', '|---|---|---|---|---|---|');
    for (const k of [...KEYS, ...BROKEN]) {
      const of = (side: string) =>
        runs
          .filter((r) => r.side === side)
          .map((r) => r.figures[scenario]?.[k])
          .filter((v): v is number => v !== undefined);
      const [xa, xb] = [of('A'), of('B')];
      if (!xa.length || !xb.length) continue;
      const [ma, mb] = [median(xa), median(xb)];
      out.push(`| ${k} | ${xa.map(fmt).join(', ')} | ${xb.map(fmt).join(', ')} | ${fmt(ma)} | ${fmt(mb)} | ${ma ? (mb / ma).toFixed(2) : '—'} |`);
    }
    out.push('');
  }
  process.stdout.write(`${out.join('\n')}\n`);
}

main();
