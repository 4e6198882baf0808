/**
 * Redis settings: a URL (standalone) or cluster seed nodes, the key prefix, timeouts, the
 * replication wait, and how to connect to a managed Redis: ACL user and password
 * (REDIS_USERNAME, REDIS_PASSWORD; for a cluster they go to every node), TLS (rediss:// or
 * REDIS_TLS=true) and a private CA (REDIS_TLS_CA_FILE).
 */
import type { Reader } from './config-reader';

export interface RedisConfig {
  readonly url?: string;
  readonly clusterNodes?: readonly { host: string; port: number }[];
  /** Start a private redis-server child under dataDir (dev mode default). */
  readonly embedded: boolean;
  readonly prefix: string;
  readonly commandTimeoutMs: number;
  /** Replicas an enqueue (gateway) and a reply mark (worker) must reach before going on; 0 = off. */
  readonly waitReplicas: number;
  readonly waitTimeoutMs: number;
  readonly username?: string;
  readonly password?: string;
  /** Connect over TLS; `ca`: PEM certificates to trust instead of the system's. */
  readonly tls?: { readonly ca?: string };
}

function parseNodes(r: Reader, raw: string): { host: string; port: number }[] {
  const nodes: { host: string; port: number }[] = [];
  for (const part of raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const m = /^([^:\s]+):(\d{1,5})$/.exec(part);
    if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535) {
      r.problems.push(`REDIS_CLUSTER_NODES entry ${JSON.stringify(part)} must be host:port`);
      continue;
    }
    nodes.push({ host: m[1]!, port: Number(m[2]) });
  }
  if (nodes.length === 0) r.problems.push('REDIS_CLUSTER_NODES must list at least one host:port');
  return nodes;
}

export function readRedisConfig(r: Reader, production: boolean, cwd: string): RedisConfig {
  const url = r.str('REDIS_URL');
  const clusterRaw = r.str('REDIS_CLUSTER_NODES');
  if (url !== undefined && clusterRaw !== undefined) r.problems.push('set REDIS_URL or REDIS_CLUSTER_NODES, not both');
  if (url !== undefined && !/^rediss?:\/\/.+/.test(url)) r.problems.push('REDIS_URL must start with redis:// or rediss://');
  const clusterNodes = clusterRaw !== undefined ? parseNodes(r, clusterRaw) : undefined;
  const embedded = url === undefined && clusterRaw === undefined;
  if (embedded && production) r.problems.push('REDIS_URL or REDIS_CLUSTER_NODES is required when NODE_ENV=production');
  const prefix = r.str('REDIS_PREFIX') ?? 'cb';
  if (!/^[A-Za-z0-9_.-]{1,32}$/.test(prefix)) r.problems.push('REDIS_PREFIX must be 1-32 letters, digits, _ . or -');

  const username = r.str('REDIS_USERNAME');
  const password = r.str('REDIS_PASSWORD');
  const tlsOn = r.oneOf('REDIS_TLS', ['true', 'false'], 'false') === 'true' || url?.startsWith('rediss://') === true;
  const ca = r.file('REDIS_TLS_CA_FILE', cwd, (text, where) => (/-----BEGIN CERTIFICATE-----/.test(text) ? { problems: [], value: text } : { problems: [`${where} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`] }));
  const remote = 'needs REDIS_URL or REDIS_CLUSTER_NODES (the embedded dev server has no password or TLS)';
  if (embedded && (username ?? password) !== undefined) r.problems.push(`REDIS_USERNAME/REDIS_PASSWORD ${remote}`);
  if (embedded && tlsOn) r.problems.push(`REDIS_TLS ${remote}`);
  if (username !== undefined && password === undefined) r.problems.push('REDIS_USERNAME needs REDIS_PASSWORD');
  if (url !== undefined && (username ?? password) !== undefined && /^rediss?:\/\/[^/]*@/.test(url)) r.problems.push('put the credentials in REDIS_URL or in REDIS_USERNAME/REDIS_PASSWORD, not both');
  if (r.str('REDIS_TLS_CA_FILE') !== undefined && !tlsOn) r.problems.push('REDIS_TLS_CA_FILE needs TLS: a rediss:// REDIS_URL or REDIS_TLS=true');

  return {
    ...(url !== undefined ? { url } : {}),
    ...(clusterNodes ? { clusterNodes } : {}),
    embedded,
    prefix,
    commandTimeoutMs: r.int('REDIS_COMMAND_TIMEOUT_MS', 2_000, 50, 60_000),
    waitReplicas: r.int('REDIS_WAIT_REPLICAS', 0, 0, 5),
    waitTimeoutMs: r.int('REDIS_WAIT_TIMEOUT_MS', 500, 10, 10_000),
    ...(username !== undefined ? { username } : {}),
    ...(password !== undefined ? { password } : {}),
    ...(tlsOn ? { tls: ca !== undefined ? { ca } : {} } : {}),
  };
}
