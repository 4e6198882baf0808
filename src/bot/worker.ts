/**
 * The bot server loop. Claims ready conversations from the sharded index, holds each one's
 * lock while it processes that conversation's events strictly one after the other, acks
 * each (fenced), yields after a bounded batch and hands the conversation back. Many
 * conversations run at once; one conversation never runs twice at once.
 */
import { SendApiError } from '../channels/messenger/errors';
import type { MessengerSender } from '../channels/messenger/send-api';
import { AGENT_KINDS, isAnswered, isHandled, type InboundEvent } from '../channels/messenger/types';
import type { Config } from '../config';
import type { Logger } from '../log';
import type { Metrics } from '../metrics';
import { LockLostError, ScriptCode } from '../queue/errors';
import { splitConversationId } from '../queue/keys';
import { waitForReplicas } from '../queue/durability';
import type { Ack, Claim, ConversationQueue, NextResult } from '../queue/queue';
import type { BotHandler } from './handler';
import type { ConversationLock, ConversationLocks } from './lock';
import { recordOfEvent, type ChatlogRecord, type MessageRecord } from '../chatlog/records';
import type { ChatlogStream } from '../chatlog/stream';

export interface WorkerDeps {
  queue: ConversationQueue;
  /** Makes this worker's conversation locks (their values name the worker, for the reaper). */
  locks: ConversationLocks;
  sender: MessengerSender;
  bot: BotHandler;
  logger: Logger;
  metrics: Metrics;
  config: Pick<Config, 'queue' | 'worker' | 'send'> & { bot: Pick<Config['bot'], 'markSeen'>; redis?: Pick<Config['redis'], 'waitReplicas' | 'waitTimeoutMs'> };
  /** Where processed events and replies are recorded for the chatlog. */
  chatlog: ChatlogStream;
}

type Outcome = { kind: 'done'; sent: number; records: ChatlogRecord[] } | { kind: 'defer'; ms: number } | { kind: 'lost' };
type Settlement = { mode: 'remove' } | { mode: 'requeue'; delayMs: number } | { mode: 'none' };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Messenger's standard messaging window: a RESPONSE may answer a message at most this old. */
export const RESPONSE_WINDOW_MS = 24 * 3_600_000;
const since = (t: number) => (Date.now() - t) / 1000;

const expired = (e: InboundEvent) => Date.now() - e.timestamp > RESPONSE_WINDOW_MS;

export class Worker {
  private stopping = false;
  private readonly active = new Set<Promise<void>>();
  private loopDone?: Promise<void>;
  private shard: number;
  private lastRedisWarning = 0;
  /**
   * Replies this process sent but could not record (Redis failed in between), with their
   * chatlog records. Consulted before resending, so a worker never resends what it knows
   * it sent; another worker relies on Facebook's echo instead. Bounded, oldest dropped.
   */
  private readonly unrecorded = new Map<string, { sent: number; records: ChatlogRecord[] }>();

  constructor(private readonly d: WorkerDeps) {
    this.shard = Math.floor(Math.random() * d.config.queue.shards);
  }

  start(): void {
    this.loopDone ??= this.loop();
  }

  /** Stops claiming, lets in-flight conversations finish their current event, releases every lock. */
  async stop(): Promise<void> {
    this.stopping = true;
    await this.loopDone;
  }

  get inFlight(): number {
    return this.active.size;
  }

  private async loop(): Promise<void> {
    const { queue, config } = this.d;
    const shards = config.queue.shards;
    let probed = 0;
    let failures = 0;
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
      const { claims, error } = await queue.claimShards(plan, config.queue.lockTtlMs, this.d.locks.worker);
      if (error) {
        this.warnRedis(error, 'claim failed');
        if (claims.length === 0) {
          await sleep(Math.min(1_000, 50 * 2 ** Math.min(failures++, 5)));
          continue;
        }
      } else failures = 0;
      this.shard = (this.shard + n) % shards;
      probed += n;
      for (const claim of claims) {
        const p = this.runConversation(claim).finally(() => this.active.delete(p));
        this.active.add(p);
      }
      // Another round at once only if a shard gave all it was asked for (more may be ready
      // there) or some shards were not probed yet; otherwise every shard has been seen with
      // nothing more to give: wait a poll interval. Under load this keeps a worker from
      // spinning on rounds that each bring one conversation.
      const full = plan.some((x) => claims.filter((c) => c.shard === x.shard).length >= x.max);
      if (!full && probed >= shards) {
        probed = 0;
        await sleep(config.queue.pollMs);
      }
    }
    await Promise.allSettled([...this.active]);
  }

  private warnRedis(err: unknown, msg: string): void {
    if (Date.now() - this.lastRedisWarning > 5_000) {
      this.lastRedisWarning = Date.now();
      this.d.logger.warn({ err }, `${msg}: redis unavailable, retrying`);
    }
  }

  private async runConversation(claim: Claim): Promise<void> {
    const { queue, locks, config, logger, metrics } = this.d;
    const conversation = claim.conversation;
    let settlement: Settlement;
    let lock: ConversationLock | null = null;
    try {
      // The lock is taken by the first next-4 call (one round trip for lock and peek) and
      // extended by lock.ts from then on. Adopted before the call so that an error in flight
      // still releases it if it was taken.
      lock = locks.adopt(queue.keys.conversation(conversation).lock, conversation);
      const first = await queue.next(conversation, lock.value, undefined, { acquireMs: locks.ttlMs, releaseIfEmpty: true });
      if (first.code === ScriptCode.Busy) {
        lock.forget();
        metrics.lockContention.inc();
        settlement = { mode: 'requeue', delayMs: config.queue.contentionDelayMs };
      } else {
        settlement = await this.drain(conversation, lock, first);
      }
    } catch (err) {
      logger.error({ err, conversation }, 'conversation processing failed; it will be retried');
      settlement = { mode: 'requeue', delayMs: config.send.retryLaterMs };
    } finally {
      await lock?.release();
    }
    if (settlement.mode === 'none') return;
    try {
      await queue.settle(claim, settlement.mode, settlement.mode === 'requeue' ? settlement.delayMs : 0);
    } catch (err) {
      // The lease runs out by itself: the conversation is claimable again after the lock TTL.
      this.warnRedis(err, 'settle failed');
    }
  }

  /** Processes up to one batch of the conversation's events, in order, starting with what `first` peeked. */
  private async drain(conversation: string, lock: ConversationLock, first: NextResult): Promise<Settlement> {
    const { queue, config, metrics, logger } = this.d;
    let ack: Ack | undefined;
    let acked: ChatlogRecord[] = [];
    let seen = false;
    let r = first;
    for (let processed = 0; ; processed++) {
      if (ack) {
        const a = ack;
        // An empty queue releases the lock in the same script: no separate release call.
        r = await this.recording(conversation, lock, () => queue.next(conversation, lock.value, a, { releaseIfEmpty: true })).catch((err) => {
          this.remember(conversation, a.id, a.sent, acked);
          throw err;
        });
        this.unrecorded.delete(`${conversation}|${a.id}`);
      }
      ack = undefined;
      if (r.code === ScriptCode.Fenced || r.code === ScriptCode.Busy) {
        metrics.fenced.inc();
        logger.warn({ conversation }, 'lock lost before the ack: another worker owns the conversation now');
        return { mode: 'none' };
      }
      if (r.code === ScriptCode.Empty) {
        lock.forget(); // released by next-4
        return { mode: 'remove' };
      }
      // Fairness: yield after a bounded batch so one chatty user cannot hold a worker slot.
      if (processed >= config.queue.batchSize || this.stopping || lock.lost) return { mode: 'requeue', delayMs: 0 };
      const event = r.event;
      if (!seen && this.d.config.bot.markSeen && isAnswered(event) && !expired(event)) {
        seen = true; // one mark_seen covers everything the user sent before it
        this.senderAction(event, 'mark_seen');
      }
      const outcome = await this.handle(conversation, r, lock);
      if (outcome.kind === 'lost') return { mode: 'none' };
      if (outcome.kind === 'defer') return { mode: 'requeue', delayMs: outcome.ms };
      // Recorded before the ack: a crash in between re-records the event, which the chatlog dedupes.
      const replyRecords = outcome.records.filter((x) => x.t === 'msg' && x.direction === 'out');
      await this.recording(conversation, lock, () => this.d.chatlog.append(outcome.records)).catch((err) => {
        this.remember(conversation, event.id, outcome.sent, replyRecords);
        throw err;
      });
      this.d.metrics.chatlogAppended.inc(outcome.records.length);
      acked = replyRecords;
      ack = { member: r.member, id: event.id, sent: outcome.sent };
    }
  }

  /**
   * With REDIS_WAIT_REPLICAS, the "being sent" mark must reach the replicas before the send:
   * after a failover the new master then knows the reply may be out and waits for its echo.
   * A shortfall is counted and the reply goes out anyway (a stalled bot helps nobody).
   */
  private async replicated(conversation: string): Promise<void> {
    const r = this.d.config.redis;
    if (!r || r.waitReplicas <= 0) return;
    const key = this.d.queue.keys.conversation(conversation).sent;
    const reached = await waitForReplicas(this.d.queue.redis, [key], { replicas: r.waitReplicas, timeoutMs: r.waitTimeoutMs });
    if (reached < r.waitReplicas) this.d.metrics.notReplicated.inc({ where: 'worker' });
  }

  /** Best effort, never awaited by the ordered path beyond its own short timeout. */
  private senderAction(e: InboundEvent, action: 'typing_on' | 'mark_seen'): Promise<void> {
    return this.d.sender.senderAction(e.pageId, e.userId, action).catch((err) => {
      this.d.metrics.sendErrors.inc({ code: `${action}:${(err as SendApiError).code ?? 'error'}` });
      this.d.logger.debug({ err, page: e.pageId, action }, 'sender action failed (cosmetic, not retried)');
    });
  }

  private remember(conversation: string, id: string, sent: number, records: ChatlogRecord[]): void {
    if (sent === 0) return;
    this.unrecorded.set(`${conversation}|${id}`, { sent, records });
    if (this.unrecorded.size > 10_000) this.unrecorded.delete(this.unrecorded.keys().next().value!);
  }

  /**
   * Runs a call that records a reply as sent. The reply did go out: losing that fact to a
   * passing Redis error would make the next holder send it again, so retry while the lock
   * holds (the calls are idempotent). If it still fails, the echo check is the last guard.
   */
  private async recording<T>(conversation: string, lock: ConversationLock, call: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await call();
      } catch (err) {
        if (attempt >= 6 || lock.lost) throw err;
        this.d.logger.warn({ conversation, err, attempt }, 'recording a sent reply failed: retrying');
        await sleep(50 * 2 ** attempt);
      }
    }
  }

  private async handle(conversation: string, r: Extract<NextResult, { code: ScriptCode.Ok }>, lock: ConversationLock): Promise<Outcome> {
    const { queue, sender, bot, config, metrics, logger } = this.d;
    const e = r.event;
    const started = Date.now();
    const log = { conversation, mid: e.id, kind: e.kind };
    metrics.stage.observe({ stage: 'queue_wait' }, (started - (e.enqueuedAt ?? e.receivedAt)) / 1000);
    metrics.processed.inc({ kind: e.kind });
    if (!isHandled(e)) {
      logger.debug(log, e.standby ? 'standby event recorded (another app owns the thread)' : 'event recorded, not answered');
      return { kind: 'done', sent: 0, records: [recordOfEvent(e, { startedAt: started })] };
    }
    if (isAnswered(e) && expired(e)) {
      // Outside the window a RESPONSE is refused (error 10): record it rather than answer.
      metrics.expired.inc();
      logger.warn({ ...log, ageHours: Math.round((started - e.timestamp) / 360_000) / 10 }, 'message older than the 24-hour window: logged as expired, not answered');
      return { kind: 'done', sent: 0, records: [recordOfEvent(e, { startedAt: started, error: 'expired: older than the 24-hour messaging window' })] };
    }
    const turn = await bot.turn(e, { typing: () => this.senderAction(e, 'typing_on') });
    const replies = turn.replies;
    const agentEvent = AGENT_KINDS.has(e.kind);
    const author = turn.author ?? 'bot';
    metrics.stage.observe({ stage: 'handle' }, since(started));
    const records: ChatlogRecord[] = [];
    if (turn.mode) records.push({ t: 'status', pageId: e.pageId, userId: e.userId, status: turn.mode.to, cause: turn.mode.cause, at: e.timestamp, ...(e.agent ? { agent: e.agent } : {}) });
    const inbound = {
      startedAt: started,
      ...(turn.nlu ? { intent: turn.nlu.intent, score: turn.nlu.score, intents: turn.nlu.intents, entities: turn.nlu.entities, sentiment: turn.nlu.sentiment, nluMs: turn.nlu.ms } : {}),
      ...(turn.actionMs !== undefined ? { actionMs: turn.actionMs } : {}),
    };
    const outbound = (i: number, fields: Partial<MessageRecord> & { mid: string }): MessageRecord => ({
      t: 'msg', pageId: e.pageId, userId: e.userId, direction: 'out', author, kind: replies[i]!.text !== undefined ? 'text' : 'attachment',
      ...(replies[i]!.text !== undefined ? { text: replies[i]!.text } : {}), replyToMid: e.id, replyIndex: i, ...fields,
    });

    let first = r.confirmed;
    const known = this.unrecorded.get(`${conversation}|${e.id}`);
    if (known && known.sent > first) {
      // This process sent these replies before Redis failed: do not send them again.
      first = known.sent;
      records.push(...known.records);
      metrics.sendResumed.inc({ settled: 'memory' });
    }
    if (!r.pending && r.nextEchoed && first === r.confirmed) {
      // Facebook echoed this reply although nothing here records it as sent: the records were
      // lost (a failed-over Redis master). The echo is proof enough: do not send it again.
      metrics.sendResumed.inc({ settled: 'echo' });
      await queue.replyDone(conversation, e.id, first);
      first += 1;
    }
    if (r.pending && r.pending.index >= first) {
      // A previous holder stopped while sending reply `index`: did Facebook get it?
      if (r.pending.echoed) {
        metrics.sendResumed.inc({ settled: 'echo' });
        await queue.replyDone(conversation, e.id, r.pending.index);
        first = r.pending.index + 1;
      } else if (r.pending.ageMs < config.send.echoGraceMs) {
        return { kind: 'defer', ms: config.send.echoGraceMs - r.pending.ageMs + 10 };
      } else {
        metrics.sendResumed.inc({ settled: 'resent' });
        logger.warn({ ...log, reply: r.pending.index }, 'reply was being sent when its worker stopped and no echo confirmed it: sending it again');
      }
    }
    const sendStarted = Date.now();
    let error: string | undefined;
    for (let i = first; i < replies.length; i++) {
      if (lock.lost) return { kind: 'lost' };
      try {
        await queue.beginReply(conversation, lock.value, e.id, i);
      } catch (err) {
        if (err instanceof LockLostError) {
          metrics.fenced.inc();
          logger.warn({ ...log, err }, 'lock lost before sending: another worker owns the conversation now');
          return { kind: 'lost' };
        }
        throw err;
      }
      await this.replicated(conversation);
      const t0 = Date.now();
      try {
        const sent = await sender.send(e.pageId, {
          recipient: { id: e.userId },
          // An agent may answer up to 7 days after the user's last message, with this tag.
          ...(author === 'agent' ? { messaging_type: 'MESSAGE_TAG', tag: 'HUMAN_AGENT' } : { messaging_type: 'RESPONSE' }),
          message: { ...replies[i], metadata: JSON.stringify({ mid: e.id, i }) },
        });
        const now = Date.now();
        records.push(outbound(i, { mid: sent.messageId ?? `sent:${e.id}:${i}`, startedAt: t0, sendMs: now - t0, repliedAt: now, platformTs: now }));
      } catch (err) {
        if (!(err instanceof SendApiError)) throw err;
        metrics.sendErrors.inc({ code: err.code });
        // Nothing went out: the next attempt need not wait for an echo that will never come.
        if (err.definitelyNotSent) await queue.replyDone(conversation, e.id, i, 'abort');
        if (err.uncertain) {
          // Maybe delivered: restart the pending mark's clock and let the echo decide (see the crash path above).
          await queue.beginReply(conversation, lock.value, e.id, i).catch(() => undefined);
          logger.warn({ ...log, code: err.code }, 'Send API did not answer: waiting for the echo before deciding whether to send again');
          return { kind: 'defer', ms: config.send.echoGraceMs + 10 };
        }
        if (err.retryable) {
          logger.warn({ ...log, err, code: err.code, attempts: err.context.attempts }, 'reply not sent after retries: the conversation waits and tries again');
          return { kind: 'defer', ms: config.send.retryLaterMs };
        }
        logger.error({ ...log, err, code: err.code }, 'reply rejected by the Send API: recorded as failed, moving on');
        error = `${err.code}: ${err.message}`;
        records.push(outbound(i, { mid: `failed:${e.id}:${i}`, startedAt: t0, sendMs: Date.now() - t0, error }));
        break;
      }
      if (i < replies.length - 1) await this.recording(conversation, lock, () => queue.replyDone(conversation, e.id, i));
    }
    const done = Date.now();
    metrics.stage.observe({ stage: 'send' }, (done - sendStarted) / 1000);
    metrics.stage.observe({ stage: 'total' }, (done - e.receivedAt) / 1000);
    logger.debug({ ...log, replies: replies.length, totalMs: done - e.receivedAt }, 'event answered');
    // An agent's action is not a message of the user's: only its replies are logged.
    if (!agentEvent) records.unshift(recordOfEvent(e, { ...inbound, ...(replies.length ? { sendMs: done - sendStarted } : {}), ...(error ? { error } : replies.length ? { repliedAt: done } : {}) }));
    return { kind: 'done', sent: replies.length, records };
  }
}
