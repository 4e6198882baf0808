/**
 * `npm test`: starts the real services the suite needs on private ports in a temp dir — a
 * standalone redis-server and a 3-master Redis Cluster — runs every test file with Node's
 * test runner (one file at a time: several spawn processes of their own), then tears down.
 * Pass file paths or substrings to run a subset: `npm test -- queue`.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startRedis, startRedisCluster } from '../../src/dev/redis-server';
import { postgresBinDir, startPostgres } from '../../src/dev/postgres-server';

function findTests(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((d) => {
    const p = path.join(dir, d.name);
    return d.isDirectory() ? findTests(p) : d.name.endsWith('.test.ts') ? [p] : [];
  });
}

async function main(): Promise<number> {
  const root = path.resolve(__dirname, '..', '..');
  const filters = process.argv.slice(2);
  const files = findTests(path.join(root, 'test'))
    .map((f) => path.relative(root, f))
    .sort()
    .filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)));
  if (files.length === 0) {
    process.stderr.write(`no test file matches ${filters.join(' ')}\n`);
    return 1;
  }
  if (filters.length === 0) {
    // The whole suite also type-checks: a type error is a failure even where no test reaches it.
    const tsc = spawnSync(process.execPath, [require.resolve('typescript/bin/tsc'), '--noEmit', '-p', root], { cwd: root, stdio: 'inherit' });
    if (tsc.status !== 0) {
      process.stderr.write('[test] type check failed\n');
      return 1;
    }
    process.stderr.write('[test] type check passed\n');
    // And lints and checks the formatting (Biome, biome.json): one config, well under a second.
    const lint = spawnSync(process.execPath, [require.resolve('@biomejs/biome/bin/biome'), 'ci', '--colors=off', '--error-on-warnings', root], { cwd: root, stdio: 'inherit' });
    if (lint.status !== 0) {
      process.stderr.write('[test] lint or format check failed (npm run lint; npm run format fixes the formatting)\n');
      return 1;
    }
    process.stderr.write('[test] lint and format check passed\n');
  }
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cb-test-'));
  const postgres = await startPostgres(path.join(tmp, 'postgres'));
  const standalone = await startRedis({ dir: path.join(tmp, 'standalone') });
  const cluster = await startRedisCluster({ dir: path.join(tmp, 'cluster'), masters: 3 });
  process.stderr.write(`[test] redis standalone :${standalone.port}, cluster ${cluster.seeds.map((s) => s.port).join(',')}, postgres :${postgres.port}, tmp ${tmp}\n`);
  try {
    return await new Promise<number>((resolve) => {
      const child = spawn(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=1', '--test-reporter=spec', ...files], {
        cwd: root,
        stdio: 'inherit',
        env: {
          ...process.env,
          TEST_REDIS_URL: standalone.url,
          TEST_REDIS_CLUSTER_NODES: cluster.seeds.map((s) => `${s.host}:${s.port}`).join(','),
          TEST_TMP: tmp,
          TEST_PG: JSON.stringify({ port: postgres.port, dataDir: postgres.dataDir, bin: postgresBinDir() }),
        },
      });
      for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => child.kill(sig));
      child.on('exit', (code) => resolve(code ?? 1));
    });
  } finally {
    await Promise.all([standalone.stop(), cluster.stop(), postgres.stop()]);
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

main().then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`[test] setup failed: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  },
);
