/**
 * The bot server loop. Claims ready conversations from the sharded index, holds each one's
 * lock while it processes that conversation's events strictly one after the other, acks
 * each (fenced), yields after a bounded batch and hands the conversation back. Many
 * conversations run at once; one conversation never runs twice at once. Platform-neutral:
 * the event's channel renders and sends the replies, the reply ledger makes them exactly once.
 */
import type { Channel, SenderAction } from '../channels/channel';
import { upgradeLegacy } from '../channels/conversation';
import { AGENT_KINDS, isAnswered, isHandled, type InboundEvent } from '../channels/event';
import type { Config } from '../config';
import { sleep } from '../lib/sleep';
import type { Logger } from '../log';
import type { Metrics } from '../metrics';
import { ScriptCode } from '../queue/errors';
import type { Ack, Claim, ConversationQueue, NextResult, Round, Taken } from '../queue/queue';
import type { WakeUps } from '../queue/wake';
import type { BotHandler } from './handler';
import { ReplyLedger, type Peeked } from './ledger';
import type { ConversationLock, ConversationLocks } from './lock';
import { recordOfEvent, type ChatlogRecord } from '../chatlog/records';
import type { ChatlogStream } from '../chatlog/stream';

export interface WorkerDeps {
  queue: ConversationQueue;
  /** Makes this worker's conversation locks (their values name the worker, for the reaper). */
  locks: ConversationLocks;
  /** Every channel this deployment sends on, by type. */
  channels: ReadonlyMap<string, Channel>;
  bot: BotHandler;
  logger: Logger;
  metrics: Metrics;
  config: Pick<Config, 'queue' | 'worker' | 'send'> & { bot: Pick<Config['bot'], 'markSeen'>; redis?: Pick<Config['redis'], 'waitReplicas' | 'waitTimeoutMs'> };
  /** Where processed events and replies are recorded for the chatlog. */
  chatlog: ChatlogStream;
  /** What ends an idle worker's wait when work comes (started and closed by the worker). */
  wake: WakeUps;
}

type Outcome = { kind: 'done'; sent: number; records: ChatlogRecord[] } | { kind: 'defer'; ms: number } | { kind: 'lost' };
/** What is left to do with a claim once its visit ends: `settled`, handed back already (finish-n); `none`, the conversation is another worker's. */
type Settlement = { mode: 'remove' } | { mode: 'requeue'; delayMs: number } | { mode: 'settled' } | { mode: 'none' };

const since = (t: number) => (Date.now() - t) / 1000;
/** Polling rounds without a claim after which a worker counts as quiet and waits for wake-ups instead. */
const QUIET_ROUNDS = 5;

export class Worker {
  private stopping = false;
  private readonly active = new Set<Promise<void>>();
  private loopDone?: Promise<void>;
  private shard: number;
  private lastRedisWarning = 0;
  private readonly ledger: ReplyLedger;

  constructor(private readonly d: WorkerDeps) {
    this.shard = Math.floor(Math.random() * d.config.queue.shards);
    this.ledger = new ReplyLedger(
      d.queue,
      {
        echoGraceMs: d.config.send.echoGraceMs,
        retryLaterMs: d.config.send.retryLaterMs,
        waitReplicas: d.config.redis?.waitReplicas ?? 0,
        waitTimeoutMs: d.config.redis?.waitTimeoutMs ?? 0,
      },
      d.logger,
      d.metrics,
    );
  }

  start(): void {
    if (this.loopDone) return;
    this.d.wake.start().catch((err) => this.d.logger.warn({ err }, 'wake-ups not subscribed (redis unavailable): idle workers poll every WORKER_IDLE_MS until the subscriber connects'));
    this.loopDone = this.loop();
  }

  /** Stops claiming, lets in-flight conversations finish their current event, releases every lock. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.d.wake.wake(); // an idle wait ends now
    await this.loopDone;
    this.d.wake.close();
  }

  get inFlight(): number {
    return this.active.size;
  }

  private async loop(): Promise<void> {
    const { config, wake } = this.d;
    const shards = config.queue.shards;
    let probed = 0;
    let failures = 0;
    // A cycle of rounds probes every shard once: the wake-up generation when it began, and the
    // soonest an entry of its shards is due (-1: none).
    let cycle = { since: wake.generation, due: -1 };
    // What ended the wait before this round (cb_claim_rounds_total's label): none (more work,
    // or shards left to probe), the WORKER_POLL_MS gap alone, a wake-up, an entry coming due,
    // or WORKER_IDLE_MS.
    let after: 'work' | 'poll' | 'wake' | 'due' | 'idle' = 'work';
    // Only a quiet worker's round (nothing claimed for QUIET_ROUNDS × WORKER_POLL_MS, at least
    // 50 ms) flags drained shards idle and learns when they come due: under a trickle of load
    // the rounds cost Redis nothing more than the claims, and no wake-up is published.
    const quietMs = Math.max(50, QUIET_ROUNDS * config.queue.pollMs);
    let lastClaimAt = 0;
    while (!this.stopping) {
      const free = config.worker.concurrency - this.active.size;
      if (free <= 0) {
        await Promise.race(this.active);
        continue;
      }
      // One round probes as many shards as there are free slots (all of them, usually) in one
      // batch of calls, and shares the free slots among them: never more claims than slots.
      const n = Math.min(shards, free);
      const plan = Array.from({ length: n }, (_, i) => ({ shard: (this.shard + i) % shards, max: Math.min(32, Math.floor(free / n) + (i < free % n ? 1 : 0)) }));
      if (probed === 0) cycle = { since: wake.generation, due: -1 };
      const startedAt = Date.now();
      const { claims, nextDueMs, error } = await this.claimRound(plan, startedAt - lastClaimAt >= quietMs ? config.worker.idleMs : 0);
      this.d.metrics.claimRounds.inc({ after });
      after = 'work';
      if (claims.length) lastClaimAt = Date.now();
      if (error) {
        this.warnRedis(error, 'claim failed');
        if (claims.length === 0) {
          await sleep(Math.min(1_000, 50 * 2 ** Math.min(failures++, 5)));
          continue;
        }
      } else failures = 0;
      this.shard = (this.shard + n) % shards;
      probed += n;
      if (nextDueMs >= 0 && (cycle.due < 0 || nextDueMs < cycle.due)) cycle.due = nextDueMs;
      for (const claim of claims) {
        if ('first' in claim && claim.first.code !== ScriptCode.Ok) {
          // claim-peek-n handed it back already: its lock was busy, or its queue empty.
          if (claim.first.code === ScriptCode.Busy) this.d.metrics.lockContention.inc();
          continue;
        }
        const p = this.runConversation(claim, startedAt).finally(() => this.active.delete(p));
        this.active.add(p);
      }
      // Another round at once only if a shard gave all it was asked for (more may be ready
      // there) or some shards were not probed yet. Otherwise every shard has been seen with
      // nothing more to give: wait at least WORKER_POLL_MS from this round's start, so that
      // under load a round gathers what came meanwhile rather than one conversation a round.
      // If the rounds flagged the shards idle (a quiet worker's do), wait on: for a wake-up
      // (work made claimable in one of them), the soonest due entry, or WORKER_IDLE_MS,
      // whichever comes first. Otherwise (due 0: not asked) poll again after the gap.
      const full = plan.some((x) => claims.filter((c) => c.shard === x.shard).length >= x.max);
      if (!full && probed >= shards) {
        probed = 0;
        const gap = config.queue.pollMs - (Date.now() - startedAt);
        if (gap > 0) await sleep(gap);
        if (cycle.due === 0) after = 'poll';
        else if (!this.stopping) {
          const byDue = cycle.due > 0 && cycle.due < config.worker.idleMs;
          const until = startedAt + (byDue ? cycle.due : config.worker.idleMs);
          after = (await wake.wait(cycle.since, until - Date.now())) ? 'wake' : byDue ? 'due' : 'idle';
        }
      }
    }
    await Promise.allSettled([...this.active]);
  }

  /**
   * Claims conversations from the shards of `plan`. On one server one claim-peek-n call also
   * takes each one's lock and peeks its first event (the visit's first round trip saved).
   */
  private async claimRound(plan: { shard: number; max: number }[], idleMs: number): Promise<Round<Claim | Taken>> {
    const { queue, config, locks } = this.d;
    if (!queue.oneServer) return queue.claimShards(plan, config.queue.lockTtlMs, locks.worker, idleMs);
    try {
      return await queue.claimAndPeek(plan, config.queue.lockTtlMs, locks.worker, { lockPrefix: locks.roundPrefix(), lockTtlMs: locks.ttlMs, busyDelayMs: config.queue.contentionDelayMs, idleMs });
    } catch (error) {
      return { claims: [], nextDueMs: 0, error };
    }
  }

  private warnRedis(err: unknown, msg: string): void {
    if (Date.now() - this.lastRedisWarning > 5_000) {
      this.lastRedisWarning = Date.now();
      this.d.logger.warn({ err }, `${msg}: redis unavailable, retrying`);
    }
  }

  /** One visit of a claimed conversation; `startedAt`: when its claim call was sent (a claim-peek-n lock's expiry counts from it). */
  private async runConversation(claim: Claim | Taken, startedAt: number): Promise<void> {
    const { queue, locks, config, logger, metrics } = this.d;
    const conversation = claim.conversation;
    let settlement: Settlement;
    let lock: ConversationLock | null = null;
    try {
      const key = queue.keys.conversation(conversation).lock;
      if ('first' in claim) {
        // claim-peek-n took the lock and peeked already.
        lock = locks.adopt(key, conversation, startedAt, claim.lockValue);
        settlement = await this.drain(claim, lock, claim.first);
      } else {
        // The lock is taken by the first next-6 call (one round trip for lock and peek) and
        // extended by lock.ts from then on. Adopted before the call so that an error in flight
        // still releases it if it was taken.
        lock = locks.adopt(key, conversation);
        const first = await queue.next(conversation, lock.value, undefined, { acquireMs: locks.ttlMs, releaseIfEmpty: true });
        if (first.code === ScriptCode.Busy) {
          lock.forget();
          metrics.lockContention.inc();
          settlement = { mode: 'requeue', delayMs: config.queue.contentionDelayMs };
        } else {
          settlement = await this.drain(claim, lock, first);
        }
      }
    } catch (err) {
      logger.error({ err, conversation }, 'conversation processing failed; it will be retried');
      settlement = { mode: 'requeue', delayMs: config.send.retryLaterMs };
    } finally {
      await lock?.release();
    }
    if (settlement.mode === 'none' || settlement.mode === 'settled') return;
    try {
      await queue.settle(claim, settlement.mode, settlement.mode === 'requeue' ? settlement.delayMs : 0);
    } catch (err) {
      // The lease runs out by itself: the conversation is claimable again after the lock TTL.
      this.warnRedis(err, 'settle failed');
    }
  }

  /** Processes up to one batch of the conversation's events, in order, starting with what `first` peeked. */
  private async drain(claim: Claim, lock: ConversationLock, first: NextResult): Promise<Settlement> {
    const { config, metrics, logger } = this.d;
    const conversation = claim.conversation;
    let seen = false;
    let r = first;
    for (let processed = 0; ; processed++) {
      if (r.code === ScriptCode.Fenced || r.code === ScriptCode.Busy) {
        metrics.fenced.inc();
        logger.warn({ conversation }, 'lock lost before the ack: another worker owns the conversation now');
        return { mode: 'none' };
      }
      if (r.code === ScriptCode.Empty) {
        lock.forget(); // released by the script that found the queue empty
        return r.handedBack === undefined ? { mode: 'remove' } : { mode: 'settled' };
      }
      // Fairness: yield after a bounded batch so one chatty user cannot hold a worker slot.
      if (processed >= config.queue.batchSize || this.stopping || lock.lost) return { mode: 'requeue', delayMs: 0 };
      const event = eventOf(r.payload);
      const channel = this.d.channels.get(event.channel);
      if (!seen && channel && this.d.config.bot.markSeen && isAnswered(event) && !expired(channel, event)) {
        seen = true; // one "seen" covers everything the user sent before it
        this.senderAction(channel, event, 'seen');
      }
      const outcome = await this.handle(conversation, r, event, channel, lock);
      if (outcome.kind === 'lost') return { mode: 'none' };
      if (outcome.kind === 'defer') return { mode: 'requeue', delayMs: outcome.ms };
      r = await this.advance(claim, lock, r, event, outcome);
    }
  }

  /**
   * Records an event's outcome, acknowledges it (fenced) and peeks the next. The records go
   * first: a crash in between records the event again, which the chatlog dedupes. On one server
   * that is one finish-n call, which also hands an emptied conversation back; on a cluster a
   * chatlog append, then next-6. Retried while the lock holds (ReplyLedger.recording).
   */
  private async advance(claim: Claim, lock: ConversationLock, peeked: Peeked, event: InboundEvent, outcome: { sent: number; records: ChatlogRecord[] }): Promise<NextResult> {
    const { queue, chatlog, metrics } = this.d;
    const conversation = claim.conversation;
    const ack: Ack = { member: peeked.member, id: event.id, sent: outcome.sent };
    try {
      let r: NextResult;
      if (queue.oneServer) {
        const records = chatlog.entriesOf(event, outcome.records);
        r = await this.ledger.recording(conversation, lock, () => queue.finish({ claim, lockValue: lock.value, ack, records }));
      } else {
        await this.ledger.recording(conversation, lock, () => chatlog.append(outcome.records));
        // An empty queue releases the lock in the same script: no separate release call.
        r = await this.ledger.recording(conversation, lock, () => queue.next(conversation, lock.value, ack, { releaseIfEmpty: true }));
      }
      metrics.chatlogAppended.inc(outcome.records.length);
      this.ledger.recorded(conversation, event.id);
      return r;
    } catch (err) {
      this.ledger.remember(
        conversation,
        event.id,
        outcome.sent,
        outcome.records.filter((x) => x.t === 'msg' && x.direction === 'out'),
      );
      throw err;
    }
  }

  /** Best effort, never awaited by the ordered path beyond its own short timeout. */
  private senderAction(channel: Channel, e: InboundEvent, action: SenderAction): Promise<void> {
    if (!channel.senderAction) return Promise.resolve();
    return channel.senderAction({ channel: e.channel, account: e.account, user: e.user }, action, e).catch((err) => {
      this.d.metrics.sendErrors.inc({ channel: channel.type, code: `${action}:${(err as { code?: string }).code ?? 'error'}` });
      this.d.logger.debug({ err, channel: e.channel, account: e.account, action }, 'sender action failed (cosmetic, not retried)');
    });
  }

  private async handle(conversation: string, r: Peeked, e: InboundEvent, channel: Channel | undefined, lock: ConversationLock): Promise<Outcome> {
    const { bot, metrics, logger } = this.d;
    const started = Date.now();
    const log = { conversation, mid: e.id, kind: e.kind };
    metrics.stage.observe({ stage: 'queue_wait' }, (started - (e.enqueuedAt ?? e.receivedAt)) / 1000);
    metrics.processed.inc({ channel: e.channel, kind: e.kind });
    if (!isHandled(e)) {
      logger.debug(log, e.standby ? 'standby event recorded (another app owns the thread)' : 'event recorded, not answered');
      return { kind: 'done', sent: 0, records: [recordOfEvent(e, { startedAt: started })] };
    }
    if (!channel) {
      // Queued while the channel was configured, processed after it was removed: nothing can answer it.
      logger.error({ ...log, channel: e.channel }, 'event of a channel this deployment no longer has: recorded, not answered');
      return { kind: 'done', sent: 0, records: [recordOfEvent(e, { startedAt: started, error: `channel ${e.channel} is not configured` })] };
    }
    if (isAnswered(e) && expired(channel, e)) {
      // Outside the platform's window a reply is refused: record it rather than answer.
      metrics.expired.inc({ channel: e.channel });
      logger.warn({ ...log, ageHours: Math.round((started - e.timestamp) / 360_000) / 10 }, "message older than the channel's reply window: logged as expired, not answered");
      return { kind: 'done', sent: 0, records: [recordOfEvent(e, { startedAt: started, error: 'expired: older than the reply window' })] };
    }
    const turn = await bot.turn(e, { typing: () => this.senderAction(channel, e, 'typing') });
    const author = turn.author ?? 'bot';
    metrics.stage.observe({ stage: 'handle' }, since(started));
    const rendering = channel.render(turn.replies, { channel: e.channel, account: e.account, user: e.user }, author);
    if (rendering.adjustments.length) logger.info({ ...log, adjustments: rendering.adjustments }, "replies adjusted to the platform's limits");
    const records: ChatlogRecord[] = [];
    if (turn.records) records.push(...turn.records);
    else if (turn.mode) records.push({ t: 'status', channel: e.channel, account: e.account, user: e.user, status: turn.mode.to, cause: turn.mode.cause, at: e.timestamp, ...(e.agent ? { agent: e.agent } : {}) });
    const delivery = await this.ledger.deliver({ conversation, lock, channel, event: e, peeked: r, messages: rendering.messages, author });
    if (delivery.kind !== 'done') return delivery;
    records.push(...delivery.records);
    const done = Date.now();
    metrics.stage.observe({ stage: 'send' }, delivery.sendMs / 1000);
    metrics.stage.observe({ stage: 'total' }, (done - e.receivedAt) / 1000);
    logger.debug({ ...log, replies: rendering.messages.length, totalMs: done - e.receivedAt }, 'event answered');
    // An agent's action is not a message of the user's: only its replies are logged.
    if (!AGENT_KINDS.has(e.kind)) {
      const n = rendering.messages.length;
      records.unshift(
        recordOfEvent(e, {
          startedAt: started,
          ...(turn.nlu ? { intent: turn.nlu.intent, score: turn.nlu.score, intents: turn.nlu.intents, entities: turn.nlu.entities, sentiment: turn.nlu.sentiment, nluMs: turn.nlu.ms } : {}),
          ...(turn.actionMs !== undefined ? { actionMs: turn.actionMs } : {}),
          ...(n ? { sendMs: delivery.sendMs } : {}),
          ...(delivery.error ? { error: delivery.error } : n ? { repliedAt: done } : {}),
        }),
      );
    }
    return { kind: 'done', sent: delivery.sent, records };
  }
}

/** A queue payload as an event (payloads queued before channels existed are Messenger's). */
function eventOf(payload: string): InboundEvent {
  return upgradeLegacy(JSON.parse(payload) as InboundEvent);
}

function expired(channel: Channel, e: InboundEvent): boolean {
  const window = channel.policy.replyWindowMs;
  return window !== undefined && Date.now() - e.timestamp > window;
}
