/**
 * Agents' presence (online / away), kept in Redis so every gateway shows the same: the admin
 * app sends a heartbeat every PRESENCE_BEAT_MS; an agent silent for PRESENCE_STALE_MS is offline.
 * Each entry keeps the agent's accounts, so a list is shown only to those who share an account
 * (isolation) and round-robin hands a conversation only to an agent who may see it.
 */
import type { RedisClient } from '../queue/redis';

export const PRESENCE_BEAT_MS = 15_000;
export const PRESENCE_STALE_MS = 45_000;

export type PresenceStatus = 'online' | 'away';

export interface AgentPresence {
  name: string;
  status: PresenceStatus;
  /** Account keys, or '*' for every account. */
  accounts: readonly string[] | '*';
  at: number;
}

export class Presence {
  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
  ) {}

  private get seen(): string {
    return `${this.prefix}:{inbox}:presence`;
  }

  private get info(): string {
    return `${this.prefix}:{inbox}:presence:info`;
  }

  /** Records a heartbeat; true when the agent's status changed (or they were offline). */
  async beat(name: string, status: PresenceStatus, accounts: readonly string[] | undefined, now = Date.now()): Promise<boolean> {
    const entry: AgentPresence = { name, status, accounts: accounts ?? '*', at: now };
    const r = await this.redis.multi().zscore(this.seen, name).hget(this.info, name).zadd(this.seen, now, name).hset(this.info, name, JSON.stringify(entry)).exec();
    const lastSeen = r?.[0]?.[1] === null ? 0 : Number(r?.[0]?.[1]);
    const before = parse(r?.[1]?.[1]);
    return !before || before.status !== status || lastSeen < now - PRESENCE_STALE_MS;
  }

  async leave(name: string): Promise<void> {
    await this.redis.multi().zrem(this.seen, name).hdel(this.info, name).exec();
  }

  /** Agents seen within PRESENCE_STALE_MS; older entries are dropped on the way. */
  async list(now = Date.now()): Promise<AgentPresence[]> {
    await this.redis.zremrangebyscore(this.seen, '-inf', now - PRESENCE_STALE_MS);
    const names = await this.redis.zrange(this.seen, 0, -1);
    if (!names.length) return [];
    const infos = await this.redis.hmget(this.info, ...names);
    return infos
      .map(parse)
      .filter((p): p is AgentPresence => p !== undefined)
      .sort((a, b) => a.name.localeCompare(b.name));
  }
}

function parse(raw: unknown): AgentPresence | undefined {
  if (typeof raw !== 'string') return undefined;
  try {
    return JSON.parse(raw) as AgentPresence;
  } catch {
    return undefined;
  }
}

/** Whether an agent's accounts include `key` (`<channel>:<id>`). */
export const presenceSees = (p: AgentPresence, key: string): boolean => p.accounts === '*' || p.accounts.includes(key);
