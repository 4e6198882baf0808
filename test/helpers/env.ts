/** What the test harness started: the real Redis servers every integration test uses. */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { PostgresProcess } from '../../src/dev/postgres-server';

export interface RedisTargetSpec {
  name: 'standalone' | 'cluster';
  url?: string;
  clusterNodes?: { host: string; port: number }[];
  /** Environment for a spawned process of ours. */
  env: Record<string, string>;
}

function required(name: string): string {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run the suite with \`npm test\`, which starts the real services`);
  return v;
}

export function redisTargets(): RedisTargetSpec[] {
  const url = required('TEST_REDIS_URL');
  const nodes = required('TEST_REDIS_CLUSTER_NODES');
  return [
    { name: 'standalone', url, env: { REDIS_URL: url } },
    {
      name: 'cluster',
      clusterNodes: nodes.split(',').map((s) => ({ host: s.split(':')[0]!, port: Number(s.split(':')[1]) })),
      env: { REDIS_CLUSTER_NODES: nodes },
    },
  ];
}

/** A fresh key prefix: each test owns its keys. */
export const uniquePrefix = (label: string) => `t${label.replace(/[^A-Za-z0-9]/g, '').slice(0, 12)}${crypto.randomBytes(3).toString('hex')}`;

export function tmpDir(label: string): string {
  const dir = path.join(required('TEST_TMP'), `${label}-${crypto.randomBytes(3).toString('hex')}`);
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}

/** The PostgreSQL server the harness started; `database()` makes a fresh database for one test. */
export function testPostgres(): PostgresProcess & { database(label: string): Promise<string> } {
  const { port, dataDir, bin } = JSON.parse(required('TEST_PG')) as { port: number; dataDir: string; bin: string };
  const pg = new PostgresProcess(port, dataDir, bin);
  return Object.assign(pg, {
    database: (label: string) =>
      pg.createDatabase(
        `t_${label
          .toLowerCase()
          .replace(/[^a-z0-9]/g, '_')
          .slice(0, 30)}_${crypto.randomBytes(3).toString('hex')}`,
      ),
  });
}
