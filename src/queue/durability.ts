/**
 * Replication before acknowledgement (REDIS_WAIT_REPLICAS). Redis replicates asynchronously:
 * a master that dies right after a write can take it with it when a replica is promoted.
 * WAIT blocks until this connection's earlier writes reached N replicas, so the gateway
 * answers 200 only for events a failover cannot lose, and a worker sends a reply only once
 * its "being sent" mark survives a failover (which is what stops a resend after one).
 */
import { Cluster } from 'ioredis';
import type Redis from 'ioredis';
import type { RedisClient } from './redis';

export interface Durability {
  /** Replicas every write must reach (0 = off). */
  replicas: number;
  timeoutMs: number;
}

export class NotReplicatedError extends Error {
  override readonly name = 'NotReplicatedError';
  constructor(readonly context: { wanted: number; reached: number; timeoutMs: number }) {
    super(`writes reached ${context.reached} of ${context.wanted} replicas within ${context.timeoutMs} ms`);
  }
}

/** CRC16/XMODEM, as Redis Cluster maps keys to slots. */
function crc16(s: string): number {
  let crc = 0;
  for (const byte of Buffer.from(s)) {
    crc ^= byte << 8;
    for (let i = 0; i < 8; i++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc;
}

/** The cluster slot of a key (its `{hash tag}` when it has one). */
export function slotOf(key: string): number {
  const open = key.indexOf('{');
  const close = open >= 0 ? key.indexOf('}', open + 1) : -1;
  return crc16(close > open + 1 ? key.slice(open + 1, close) : key) % 16384;
}

/** The connections that wrote `keys`: in a cluster, the master of each key's slot (as this client knows it). */
function ownersOf(client: RedisClient, keys: readonly string[]): Redis[] {
  if (!(client instanceof Cluster)) return [client];
  const byAddress = new Map(client.nodes('master').map((n) => [`${n.options.host}:${n.options.port}`, n]));
  const owners = new Set<Redis>();
  for (const k of keys) {
    const node = byAddress.get(client.slots[slotOf(k)]?.[0] ?? '');
    if (node) owners.add(node);
  }
  return [...owners];
}

/**
 * WAIT on the master of each written key, over the connection the writes went through.
 * Resolves with the fewest replicas any of them reached (0 when a master is unknown or down).
 */
export async function waitForReplicas(client: RedisClient, keys: readonly string[], d: Durability): Promise<number> {
  const owners = ownersOf(client, keys);
  if (owners.length === 0) return 0;
  const reached = await Promise.all(owners.map((m) => m.wait(d.replicas, d.timeoutMs).catch(() => 0)));
  return Math.min(...reached.map(Number));
}

/** Throws NotReplicatedError when the writes did not reach enough replicas in time. */
export async function requireReplicas(client: RedisClient, keys: readonly string[], d: Durability): Promise<void> {
  if (d.replicas <= 0) return;
  const reached = await waitForReplicas(client, keys, d);
  if (reached < d.replicas) throw new NotReplicatedError({ wanted: d.replicas, reached, timeoutMs: d.timeoutMs });
}
