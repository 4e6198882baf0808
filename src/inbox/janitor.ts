/**
 * The inbox's leader job (one worker at a time, like the sweeper): every second it wakes
 * snoozed conversations whose time came, queues the "when to expect an answer" notice to users
 * waiting longer than HANDOFF_NOTICE_MINUTES (an event in the conversation's own queue with a
 * stable id per wait, so a job run twice sends it once), hands waiting conversations to online
 * agents in turn (INBOX_AUTO_ASSIGN=round-robin), and now and then repairs the waiting and
 * snoozed sets from the per-conversation hashes (on a cluster they are updated after the
 * script, and a crash in between leaves them wrong).
 */
import { accountKey, parseConversationKey, type ConversationRef } from '../channels/conversation';
import type { InboundEvent } from '../channels/event';
import type { Logger } from '../log';
import type { ConversationQueue } from '../queue/queue';
import { masters } from '../queue/redis';
import { presenceSees, type Presence } from './presence';
import type { Inbox } from './service';
import { stateOf } from './state';

export interface JanitorOptions {
  noticeMs: number;
  roundRobin: boolean;
  everyMs?: number;
  repairEveryMs?: number;
  serves: (channel: string, account: string) => boolean;
}

export class InboxJanitor {
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private lastRepair = 0;
  /** Notices queued by this process (`conversation|since`): not queued again every second. */
  private readonly noticed = new Set<string>();

  constructor(
    private readonly inbox: Inbox,
    private readonly queue: ConversationQueue,
    private readonly presence: Presence,
    private readonly o: JanitorOptions,
    private readonly logger: Logger,
  ) {}

  private get store() {
    return this.inbox.store;
  }

  start(): void {
    const every = this.o.everyMs ?? 1_000;
    this.timer = setInterval(() => {
      this.running ??= this.tickIfLeader(every).finally(() => (this.running = undefined));
    }, every);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running?.catch(() => undefined);
  }

  private async tickIfLeader(every: number): Promise<void> {
    try {
      const won = await this.store.redis.set(`${this.store.prefix}:{inbox}:janitor`, String(process.pid), 'PX', every, 'NX');
      if (won) await this.tick();
    } catch (err) {
      this.logger.warn({ err }, 'inbox janitor skipped a round: redis unavailable');
    }
  }

  async tick(now = Date.now()): Promise<void> {
    await this.wake(now);
    const waiting = await this.store.waiting(1_000);
    if (this.o.noticeMs > 0) await this.notices(waiting, now);
    if (this.o.roundRobin && waiting.length) await this.roundRobin(waiting, now);
    if (now - this.lastRepair >= (this.o.repairEveryMs ?? 60_000)) {
      this.lastRepair = now;
      await this.repair();
    }
  }

  private async wake(now: number): Promise<void> {
    for (const key of await this.store.snoozedDue(now)) {
      const ref = parseConversationKey(key);
      if (ref) await this.inbox.change(ref, 'wake', { now, by: 'system', cause: 'snooze_ended' });
      else await this.store.redis.zrem(this.store.snoozedKey, key);
    }
  }

  private async enqueue(ref: ConversationRef, key: string, e: Omit<InboundEvent, 'channel' | 'account' | 'user' | 'receivedAt'>): Promise<void> {
    const event: InboundEvent = { ...ref, ...e, receivedAt: Date.now(), enqueuedAt: Date.now() };
    await this.queue.enqueue(key, [{ id: event.id, timestamp: event.timestamp, payload: JSON.stringify(event), queue: true }]);
    await this.queue.markReady([key]);
  }

  private async notices(waiting: { conversation: string; since: number }[], now: number): Promise<void> {
    for (const w of waiting) {
      if (w.since > now - this.o.noticeMs) break; // oldest first: the rest waited less
      const mark = `${w.conversation}|${w.since}`;
      const ref = parseConversationKey(w.conversation);
      if (!ref || this.noticed.has(mark) || !this.o.serves(ref.channel, ref.account)) continue;
      await this.enqueue(ref, w.conversation, { id: `notice:${w.since}`, kind: 'notice', payload: String(w.since), timestamp: now });
      if (this.noticed.size > 50_000) this.noticed.clear();
      this.noticed.add(mark);
      this.logger.info({ conversation: w.conversation, waitedMs: now - w.since }, 'nobody claimed a waiting conversation in time: the user is told when to expect an answer');
    }
  }

  /**
   * Each waiting conversation (oldest first) goes to the online agent who may see its account
   * and was handed one longest ago (their turn, kept in Redis, so a new leader continues it).
   * `pick` assigns only a conversation still waiting: an entry the set kept after a crash, or one
   * a second leader (a lock that expired mid-round) or an agent took meanwhile, is left alone.
   */
  private async roundRobin(waiting: { conversation: string; since: number }[], now: number): Promise<void> {
    const online = (await this.presence.list(now)).filter((p) => p.status === 'online');
    if (!online.length) return;
    const turnsKey = `${this.store.prefix}:{inbox}:round-robin`;
    const turns = new Map(Object.entries(await this.store.redis.hgetall(turnsKey)).map(([k, v]) => [k, Number(v)]));
    for (const w of waiting) {
      const ref = parseConversationKey(w.conversation);
      if (!ref || !this.o.serves(ref.channel, ref.account)) continue;
      const fit = online.filter((p) => presenceSees(p, accountKey(ref.channel, ref.account)));
      if (!fit.length) continue;
      const agent = fit.reduce((a, b) => ((turns.get(b.name) ?? 0) < (turns.get(a.name) ?? 0) ? b : a)).name;
      const c = await this.inbox.change(ref, 'pick', { now, actor: agent, by: 'system', cause: 'round_robin' });
      if (!c.changed) {
        if (c.state.status !== 'waiting') await this.store.syncSets(w.conversation, c.state);
        continue;
      }
      const seq = await this.store.redis.hincrby(turnsKey, '#', 1);
      turns.set(agent, seq);
      await this.store.redis.hset(turnsKey, agent, seq);
      await this.enqueue(ref, w.conversation, { id: `takeover:rr:${w.since}`, kind: 'takeover', agent, timestamp: now });
    }
  }

  /** The waiting and snoozed sets as the hashes say; returns how many entries it fixed. */
  async repair(): Promise<number> {
    const { redis, prefix } = this.store;
    let fixed = 0;
    const seen = new Set<string>();
    for (const node of masters(redis)) {
      let cursor = '0';
      do {
        const [next, keys] = await node.scan(cursor, 'MATCH', `${prefix}:{*}:inbox`, 'COUNT', 1_000);
        cursor = next;
        for (const k of keys) {
          const conversation = /\{([^}]+)\}:inbox$/.exec(k)?.[1];
          if (!conversation) continue;
          seen.add(conversation);
          const s = stateOf(await redis.hgetall(k));
          const [inWaiting, inSnoozed] = await Promise.all([redis.zscore(this.store.waitingKey, conversation), redis.zscore(this.store.snoozedKey, conversation)]);
          if ((s.status === 'waiting') !== (inWaiting !== null) || (s.status === 'snoozed') !== (inSnoozed !== null)) {
            await this.store.syncSets(conversation, s);
            fixed++;
          }
        }
      } while (cursor !== '0');
    }
    // Entries whose hash is gone (erased, expired).
    for (const set of [this.store.waitingKey, this.store.snoozedKey]) {
      for (const c of (await redis.zrange(set, 0, -1)).filter((x) => !seen.has(x))) {
        // Looked at again: a conversation that started waiting after the scan passed it is no stale entry.
        if (!(await redis.exists(this.store.key(c)))) fixed += await redis.zrem(set, c);
      }
    }
    if (fixed) this.logger.warn({ fixed }, 'inbox janitor repaired the waiting and snoozed sets from the conversations');
    return fixed;
  }
}
