/**
 * Redis connections (standalone or cluster) with the queue's Lua scripts registered once
 * through `defineCommand`. Commands fail fast while Redis is unreachable (no offline
 * queue), so the gateway can answer 503 and Facebook retries.
 */
import fs from 'node:fs';
import path from 'node:path';
import Redis, { Cluster, type Result } from 'ioredis';
import type { RedisConfig } from '../config-redis';

export type RedisClient = Redis | Cluster;

declare module 'ioredis' {
  interface RedisCommander<Context> {
    cbEnqueue(q: string, ev: string, seen: string, sent: string, seq: string, overflow: string, ...argv: (string | number)[]): Result<number[], Context>;
    cbNext(
      q: string,
      ev: string,
      sent: string,
      lock: string,
      seq: string,
      overflow: string,
      lockValue: string,
      ackMember: string,
      ackId: string,
      sentCount: number,
      ttl: number,
      acquireMs: number,
      releaseIfEmpty: '0' | '1',
      cap: number,
    ): Result<unknown[], Context>;
    cbReply(sent: string, lock: string, lockValue: string, id: string, op: 'begin' | 'done' | 'abort', index: number, ttl: number, ...key: string[]): Result<number, Context>;
    /** claim-n takes a variable number of keys: n ready shards and their n owners hashes, then the lease, the worker, one max per shard. */
    cbClaim(numKeys: number, ...keysThenArgs: (string | number)[]): Result<(string | number)[], Context>;
    cbMark(ready: string, ...conversations: string[]): Result<number, Context>;
    cbSettle(ready: string, owners: string, conversation: string, lease: number, mode: 'remove' | 'requeue', delayMs: number, owner: string): Result<number, Context>;
    cbBeat(workers: string, worker: string, deadAfterMs: number, max: number): Result<(string | number)[], Context>;
    cbReap(ready: string, owners: string, worker: string, leaseMs: number, ...conversations: string[]): Result<string[], Context>;
    cbUnlock(lock: string, prefix: string): Result<number, Context>;
    /** finish-n (one server): 9 keys per conversation, then the ttl, the cap and each conversation's arguments and records. */
    cbFinish(numKeys: number, ...keysThenArgs: (string | number)[]): Result<unknown[], Context>;
    /** claim-peek-n (one server): claim-n's keys and arguments, then the key prefix, the lock value prefix, the lock ttl, the ttl, the cap and the busy delay. */
    cbClaimPeek(numKeys: number, ...keysThenArgs: (string | number)[]): Result<unknown[], Context>;
    /** ingest-n (one server): 7 keys per conversation entry and the stream shards, then the enqueue arguments, each entry's events, each shard's records. */
    cbIngest(numKeys: number, ...keysThenArgs: (string | number)[]): Result<unknown[], Context>;
    /** inbox-n: the inbox hash, then (one server only) the waiting and snoozed sets; see the script's header. */
    cbInbox(numKeys: number, ...keysThenArgs: (string | number)[]): Result<(string | number)[], Context>;
    cbThrottle(throttle: string, op: 'take' | 'give', free: number, baseMs: number, capMs: number, memoryMs: number): Result<[number, number], Context>;
  }
}

const LUA_DIR = path.join(__dirname, 'lua');
const COMMANDS: Record<string, string> = {
  'enqueue-6': 'cbEnqueue',
  'next-6': 'cbNext',
  'reply-2': 'cbReply',
  'claim-n': 'cbClaim',
  'mark-1': 'cbMark',
  'settle-2': 'cbSettle',
  'beat-1': 'cbBeat',
  'reap-2': 'cbReap',
  'unlock-1': 'cbUnlock',
  'throttle-1': 'cbThrottle',
  'finish-n': 'cbFinish',
  'claim-peek-n': 'cbClaimPeek',
  'ingest-n': 'cbIngest',
  'inbox-n': 'cbInbox',
};

/**
 * A script's text, its `--@include <name>` lines replaced by lua/include/<name>.lua: functions
 * shared by several scripts (next-6's acknowledge-and-peek, settle-2's hand-back) are written
 * once, and a script that does several steps in one round trip calls the same code as the
 * scripts that do one each.
 */
export function scriptText(file: string): string {
  return fs.readFileSync(path.join(LUA_DIR, `${file}.lua`), 'utf8').replace(/^--@include (\S+)$/gm, (_, name: string) => fs.readFileSync(path.join(LUA_DIR, 'include', `${name}.lua`), 'utf8'));
}

export function defineScripts(client: RedisClient): void {
  for (const [file, name] of Object.entries(COMMANDS)) {
    const keys = file.split('-').pop();
    const lua = scriptText(file);
    // '-n': the caller passes the number of keys first.
    client.defineCommand(name, keys === 'n' ? { lua } : { numberOfKeys: Number(keys), lua });
  }
}

export interface RedisTarget {
  url?: string;
  clusterNodes?: readonly { host: string; port: number }[];
  commandTimeoutMs: number;
  username?: string;
  password?: string;
  tls?: { ca?: string };
}

/** Where and how to connect, from the configuration (the embedded dev server aside). */
export function remoteTarget(c: RedisConfig, commandTimeoutMs = c.commandTimeoutMs): RedisTarget {
  return {
    ...(c.url !== undefined ? { url: c.url } : {}),
    ...(c.clusterNodes ? { clusterNodes: c.clusterNodes } : {}),
    commandTimeoutMs,
    ...(c.username !== undefined ? { username: c.username } : {}),
    ...(c.password !== undefined ? { password: c.password } : {}),
    ...(c.tls ? { tls: { ...c.tls } } : {}),
  };
}

/** Refusals that no retry will cure: wrong credentials, a certificate not trusted. */
const FATAL = /WRONGPASS|NOAUTH|invalid username-password|ERR AUTH|certificate|self[- ]signed|wrong version number|ERR_SSL/i;

function waitReady(client: RedisClient, timeoutMs: number): Promise<void> {
  if (client.status === 'ready') return Promise.resolve();
  return new Promise((resolve, reject) => {
    let last: Error | undefined;
    const fail = (why: string) => {
      cleanup();
      reject(new Error(why));
    };
    const timer = setTimeout(() => fail(`Redis not ready after ${timeoutMs} ms (status ${client.status}${last ? `; last error: ${last.message}` : ''})`), timeoutMs);
    const onReady = () => {
      cleanup();
      resolve();
    };
    const onError = (err: Error) => {
      last = err;
      if (FATAL.test(err.message) || FATAL.test(String((err as { lastNodeError?: Error }).lastNodeError?.message ?? ''))) fail(`Redis refused the connection: ${err.message}`);
    };
    const cleanup = () => {
      clearTimeout(timer);
      client.off('ready', onReady);
      client.off('error', onError);
      client.off('node error', onError);
    };
    client.on('ready', onReady);
    client.on('error', onError);
    client.on('node error', onError);
  });
}

/** Connects and waits until ready; `onError` receives connection errors (ioredis would print them otherwise). */
export async function connectRedis(target: RedisTarget, onError: (err: Error) => void, name = 'cb'): Promise<RedisClient> {
  const retryStrategy = (times: number) => Math.min(50 * times, 1_000);
  const common = { enableOfflineQueue: false, lazyConnect: false } as const;
  const security = {
    ...(target.username !== undefined ? { username: target.username } : {}),
    ...(target.password !== undefined ? { password: target.password } : {}),
    ...(target.tls ? { tls: target.tls.ca !== undefined ? { ca: target.tls.ca } : {} } : {}),
  };
  let client: RedisClient;
  if (target.clusterNodes) {
    client = new Cluster([...target.clusterNodes], {
      ...common,
      clusterRetryStrategy: retryStrategy,
      retryDelayOnFailover: 100,
      retryDelayOnClusterDown: 200,
      maxRedirections: 16,
      redisOptions: { commandTimeout: target.commandTimeoutMs, maxRetriesPerRequest: 1, connectionName: name, ...security },
      // Managed TLS clusters announce node addresses that must be verified as given.
      ...(target.tls ? { dnsLookup: (address: string, callback: (err: Error | null, address: string) => void) => callback(null, address) } : {}),
    });
  } else {
    client = new Redis(target.url ?? 'redis://127.0.0.1:6379', {
      ...common,
      commandTimeout: target.commandTimeoutMs,
      maxRetriesPerRequest: 1,
      retryStrategy,
      connectionName: name,
      ...security,
    });
  }
  client.on('error', onError);
  defineScripts(client);
  try {
    await waitReady(client, 15_000);
  } catch (err) {
    client.disconnect();
    throw err;
  }
  return client;
}

/**
 * True when every key lives on one server (not a cluster). Then one script may take keys of
 * different hash slots (a cluster refuses that: CROSSSLOT), and every command goes over one
 * connection that runs them in the order they were written, so a command may be sent before
 * the reply of an earlier one it depends on has come back (no round trip in between).
 */
export const oneServer = (client: RedisClient): boolean => !(client instanceof Cluster);

/** Every master of the deployment (one client for standalone). */
export function masters(client: RedisClient): Redis[] {
  return client instanceof Cluster ? client.nodes('master') : [client];
}
