/** What a bench run stands on: the machine, the versions, and real servers on private ports. */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startPostgres, type PostgresProcess } from '../src/dev/postgres-server';
import { findBinary, startRedis, type RedisProcess } from '../src/dev/redis-server';

export interface Machine {
  cpu: string;
  cores: number;
  memoryGiB: number;
  node: string;
  redis: string;
  postgres: string;
  date: string;
}

export function machine(pg?: PostgresProcess): Machine {
  const redisBin = findBinary('redis-server');
  const version = (bin: string | undefined, args: string[]) => (bin ? execFileSync(bin, args, { encoding: 'utf8' }).trim() : 'not found');
  return {
    cpu: os.cpus()[0]?.model ?? 'unknown',
    cores: os.cpus().length,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
    redis: /v=(\S+)/.exec(version(redisBin, ['--version']))?.[1] ?? 'unknown',
    postgres: pg?.version ?? 'n/a',
    date: new Date().toISOString(),
  };
}

export interface BenchServers {
  redis: RedisProcess;
  pg: PostgresProcess;
  tmp: string;
  /** `--profile`: where the roles' `--cpu-prof` profiles go (flame graphs land in bench/profiles/). */
  profileDir?: string;
  /** `NAME=value` arguments: added to every role's environment (A/B runs). */
  env?: Record<string, string>;
  stop(): Promise<void>;
}

export async function startServers(): Promise<BenchServers> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cb-bench-'));
  const [redis, pg] = await Promise.all([startRedis({ dir: path.join(tmp, 'redis') }), startPostgres(path.join(tmp, 'pg'), { durable: true })]);
  return {
    redis,
    pg,
    tmp,
    async stop() {
      await Promise.all([redis.stop(), pg.stop()]);
      fs.rmSync(tmp, { recursive: true, force: true });
    },
  };
}
