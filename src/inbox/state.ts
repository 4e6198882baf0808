/**
 * A conversation's inbox status — bot, waiting, assigned, resolved, snoozed — kept in Redis
 * under the conversation's hash tag (`<prefix>:{<conversation>}:inbox`) and changed only by
 * inbox-n.lua, because two writers meet there: the worker, in conversation order (the bot asks
 * for a person, an agent's queued reply, the user writing to a snoozed conversation), and the
 * admin API, synchronously (an exclusive claim, reassign, resolve, snooze). The waiting and
 * snoozed sets beside them (global, tag `{inbox}`) are kept by the same script on one server,
 * right after it on a cluster (another slot), and repaired from the hashes by the janitor.
 */
import type { RedisClient } from '../queue/redis';
import { oneServer } from '../queue/redis';
import { ScriptReplyError } from '../queue/errors';

export type InboxStatus = 'bot' | 'waiting' | 'assigned' | 'resolved' | 'snoozed';
export const STATUSES: readonly InboxStatus[] = ['bot', 'waiting', 'assigned', 'resolved', 'snoozed'];
/** A person is expected or at work: the bot stays quiet (promise 8). */
export const HUMAN: ReadonlySet<InboxStatus> = new Set(['waiting', 'assigned', 'snoozed']);
/** The agent name of the page's staff answering from Facebook's Page Inbox (no sign-in name has a space). */
export const PAGE_INBOX = 'page inbox';

export type InboxOp = 'claim' | 'pick' | 'assign' | 'unassign' | 'resolve' | 'snooze' | 'release' | 'handoff' | 'agent' | 'staff' | 'user' | 'wake' | 'thread' | 'adopt' | 'peek';

export interface InboxState {
  status: InboxStatus;
  agent?: string;
  /** When the status last changed (ms). */
  since: number;
  waitingSince?: number;
  snoozeUntil?: number;
  /** `inbox`: the thread is with Facebook's Page Inbox (Handover Protocol); '' with us. */
  thread: string;
  /** The last agent who held it (CSAT answers are counted for them). */
  lastAgent?: string;
  agentAt?: number;
}

export interface Change {
  /** `conflict`: someone else holds it (`state.agent`, `state.since` are theirs). */
  code: 'ok' | 'conflict';
  from: InboxStatus;
  state: InboxState;
  changed: boolean;
}

export interface ApplyOptions {
  now: number;
  actor?: string;
  /** '*' (no guard), or the agent who may hold it already; anyone else holding it is a conflict. */
  guard?: string;
  arg?: string | number;
  /** A worker's event id: the op replayed for the same event answers as the first time. */
  replay?: string;
}

const num = (v: unknown): number | undefined => (v === undefined || v === '' || Number(v) === 0 ? undefined : Number(v));

export class InboxStore {
  constructor(
    readonly redis: RedisClient,
    readonly prefix: string,
    private readonly ttlMs = 30 * 24 * 3_600_000,
  ) {}

  key(conversation: string): string {
    return `${this.prefix}:{${conversation}}:inbox`;
  }

  get waitingKey(): string {
    return `${this.prefix}:{inbox}:waiting`;
  }

  get snoozedKey(): string {
    return `${this.prefix}:{inbox}:snoozed`;
  }

  async apply(conversation: string, op: InboxOp, o: ApplyOptions): Promise<Change> {
    const one = oneServer(this.redis);
    const keys = one ? [this.key(conversation), this.waitingKey, this.snoozedKey] : [this.key(conversation)];
    const r = await this.redis.cbInbox(keys.length, ...keys, op, o.now, o.actor ?? '', o.guard ?? '*', String(o.arg ?? ''), o.replay ?? '', conversation, this.ttlMs);
    if (!Array.isArray(r) || r.length !== 10) throw new ScriptReplyError({ script: 'inbox-n', reply: r });
    const change: Change = {
      code: Number(r[0]) === 1 ? 'conflict' : 'ok',
      from: String(r[1]) as InboxStatus,
      changed: Number(r[7]) === 1,
      state: stateOf({ status: r[2], agent: r[3], since: r[4], waitingSince: r[5], snoozeUntil: r[6], thread: r[8], lastAgent: r[9] }),
    };
    if (!one && change.changed) await this.syncSets(conversation, change.state);
    return change;
  }

  /** On a cluster the sets are another slot: updated right after the script (the janitor repairs a gap). */
  async syncSets(conversation: string, s: InboxState): Promise<void> {
    const m = this.redis.multi();
    if (s.status === 'waiting') m.zadd(this.waitingKey, s.waitingSince ?? s.since, conversation);
    else m.zrem(this.waitingKey, conversation);
    if (s.status === 'snoozed') m.zadd(this.snoozedKey, s.snoozeUntil ?? s.since, conversation);
    else m.zrem(this.snoozedKey, conversation);
    await m.exec();
  }

  /** The current state (a missing hash is a conversation with the bot). */
  async read(conversation: string): Promise<InboxState & { exists: boolean }> {
    const h = await this.redis.hgetall(this.key(conversation));
    return { ...stateOf(h), exists: Object.keys(h).length > 0 };
  }

  /** Waiting conversations, oldest first: [conversation, waiting since]. */
  async waiting(limit = 500): Promise<{ conversation: string; since: number }[]> {
    const r = await this.redis.zrange(this.waitingKey, 0, limit - 1, 'WITHSCORES');
    const out: { conversation: string; since: number }[] = [];
    for (let i = 0; i < r.length; i += 2) out.push({ conversation: r[i]!, since: Number(r[i + 1]) });
    return out;
  }

  async oldestWaiting(): Promise<number | undefined> {
    const r = await this.redis.zrange(this.waitingKey, 0, 0, 'WITHSCORES');
    return r[1] === undefined ? undefined : Number(r[1]);
  }

  /** Snoozed conversations whose time has come. */
  async snoozedDue(now: number, limit = 200): Promise<string[]> {
    return this.redis.zrangebyscore(this.snoozedKey, '-inf', now, 'LIMIT', 0, limit);
  }
}

export function stateOf(h: Record<string, unknown>): InboxState {
  const status = STATUSES.includes(h.status as InboxStatus) ? (h.status as InboxStatus) : 'bot';
  const agent = typeof h.agent === 'string' && h.agent ? h.agent : undefined;
  const lastAgent = typeof h.lastAgent === 'string' && h.lastAgent ? h.lastAgent : undefined;
  const waitingSince = num(h.waitingSince);
  const snoozeUntil = num(h.snoozeUntil);
  const agentAt = num(h.agentAt);
  return {
    status,
    since: Number(h.since ?? 0) || 0,
    thread: typeof h.thread === 'string' ? h.thread : '',
    ...(agent ? { agent } : {}),
    ...(lastAgent ? { lastAgent } : {}),
    ...(waitingSince ? { waitingSince } : {}),
    ...(snoozeUntil ? { snoozeUntil } : {}),
    ...(agentAt ? { agentAt } : {}),
  };
}
