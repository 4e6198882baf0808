/**
 * The reply ledger: how a worker sends an event's replies exactly once through crashes.
 * Before each send it records "reply i is being sent" (fenced by the conversation lock),
 * after it "i+1 replies confirmed". A holder that finds a reply half-sent asks the channel's
 * confirmation: with `echo`, the platform's confirmation of that reply (Messenger's echo,
 * WhatsApp's status) settles it, and without one within SEND_ECHO_GRACE_MS it is sent again;
 * with `idempotent` (LINE's retry key, the web chat outbox) it is simply sent again. A channel
 * whose confirmations name only the content (Instagram) gives each send a confirmation key, and
 * confirmations of that content are counted against its sends (reply-2.lua). Replies
 * this process sent but could not record (Redis failed in between) are remembered, so it
 * never resends what it knows it sent.
 */
import type { Channel } from '../channels/channel';
import { SendError } from '../channels/channel';
import type { ConversationRef } from '../channels/conversation';
import { replyToken, type InboundEvent } from '../channels/event';
import type { Author, Rendered } from '../channels/reply';
import type { ChatlogRecord, MessageRecord } from '../chatlog/records';
import { sendScope } from '../channels/http-client';
import { sleep } from '../lib/sleep';
import type { Logger } from '../log';
import type { Metrics } from '../metrics';
import { waitForReplicas } from '../queue/durability';
import { LockLostError, type ScriptCode } from '../queue/errors';
import type { ConversationQueue, NextResult } from '../queue/queue';
import type { ConversationLock } from './lock';
import { SentContents } from './sent-contents';

export type Peeked = Extract<NextResult, { code: ScriptCode.Ok }>;

/** What became of an event's replies. */
export type Delivery = { kind: 'done'; sent: number; records: MessageRecord[]; error?: string; sendMs: number } | { kind: 'defer'; ms: number } | { kind: 'lost' };

export interface LedgerOptions {
  echoGraceMs: number;
  retryLaterMs: number;
  /** REDIS_WAIT_REPLICAS: the "being sent" mark reaches this many replicas before the send. */
  waitReplicas: number;
  waitTimeoutMs: number;
}

export interface Sending {
  conversation: string;
  lock: ConversationLock;
  channel: Channel;
  event: InboundEvent;
  peeked: Peeked;
  messages: readonly Rendered[];
  author: Author;
}

export class ReplyLedger {
  /** Replies sent but not recorded (conversation|event -> count and their records). Bounded, oldest dropped. */
  private readonly unrecorded = new Map<string, { sent: number; records: MessageRecord[] }>();
  /** Keyed sends (contents) this conversation owes an echo, so the inbox tells our echoes from staff messages. */
  private readonly contents: SentContents;

  constructor(
    private readonly queue: ConversationQueue,
    private readonly opts: LedgerOptions,
    private readonly logger: Logger,
    private readonly metrics: Metrics,
  ) {
    this.contents = new SentContents(queue.redis, queue.keys.prefix);
  }

  /** Sends what is left of an event's replies, in order, each recorded before and after. */
  async deliver(s: Sending): Promise<Delivery> {
    const { conversation, event: e, peeked: r, channel } = s;
    const log = { conversation, mid: e.id, kind: e.kind };
    const records: MessageRecord[] = [];
    let first = r.confirmed;
    const known = this.unrecorded.get(`${conversation}|${e.id}`);
    if (known && known.sent > first) {
      // This process sent these replies before Redis failed: do not send them again.
      first = known.sent;
      records.push(...known.records);
      this.metrics.sendResumed.inc({ settled: 'memory' });
    }
    if (channel.confirmation === 'echo' && !r.pending && r.nextEchoed && first === r.confirmed) {
      // The platform confirmed this reply although nothing here records it as sent: the records
      // were lost (a failed-over Redis master). The confirmation is proof enough.
      this.metrics.sendResumed.inc({ settled: 'echo' });
      await this.queue.replyDone(conversation, e.id, first);
      first += 1;
    }
    if (r.pending && r.pending.index >= first) {
      // A previous holder stopped while sending reply `index`: did it go out?
      if (channel.confirmation === 'idempotent') {
        this.metrics.sendResumed.inc({ settled: 'resent' });
        this.logger.info({ ...log, reply: r.pending.index }, 'reply was being sent when its worker stopped: sending it again (the channel dedupes it)');
      } else if (r.pending.echoed) {
        this.metrics.sendResumed.inc({ settled: 'echo' });
        await this.queue.replyDone(conversation, e.id, r.pending.index);
        first = r.pending.index + 1;
      } else if (r.pending.ageMs < this.opts.echoGraceMs) {
        return { kind: 'defer', ms: this.opts.echoGraceMs - r.pending.ageMs + 10 };
      } else {
        this.metrics.sendResumed.inc({ settled: 'resent' });
        this.logger.warn({ ...log, reply: r.pending.index }, 'reply was being sent when its worker stopped and nothing confirmed it: sending it again');
      }
    }
    return this.sendFrom(s, first, records, log);
  }

  private async sendFrom(s: Sending, first: number, records: MessageRecord[], log: Record<string, unknown>): Promise<Delivery> {
    const { conversation, lock, channel, event: e, messages } = s;
    const to: ConversationRef = { channel: e.channel, account: e.account, user: e.user };
    const started = Date.now();
    let error: string | undefined;
    for (let i = first; i < messages.length; i++) {
      if (lock.lost) return { kind: 'lost' };
      // A channel whose confirmations name content, not replies, marks the send with its key.
      const key = channel.confirmationKey?.(messages[i]!, to);
      try {
        // The content is counted before the send too, in the same round trip's wait.
        await Promise.all([this.queue.beginReply(conversation, lock.value, e.id, i, key), key ? this.contents.sending(conversation, key) : undefined]);
      } catch (err) {
        if (!(err instanceof LockLostError)) throw err;
        this.metrics.fenced.inc();
        this.logger.warn({ ...log, err }, 'lock lost before sending: another worker owns the conversation now');
        return { kind: 'lost' };
      }
      await this.replicated(conversation);
      const ref = { event: e.id, index: i };
      const t0 = Date.now();
      this.metrics.sends.inc({ channel: channel.type });
      try {
        const sent = await sendScope.run({ stillHeld: () => !lock.lost }, () => channel.send(messages[i]!, { to, ref, token: replyToken(ref), idempotencyKey: `${e.id}#${i}`, author: s.author, about: e }));
        const now = Date.now();
        records.push(this.outbound(s, i, { mid: sent.messageId ?? `sent:${e.id}:${i}`, startedAt: t0, sendMs: now - t0, repliedAt: now, platformTs: now }));
      } catch (err) {
        if (!(err instanceof SendError)) throw err;
        this.metrics.sendErrors.inc({ channel: channel.type, code: err.code });
        // The conversation is another worker's now (this one stalled past its lock): its marks
        // are the new holder's to settle; touching them (an abort) could undo its own send.
        if (lock.lost) return { kind: 'lost' };
        // Nothing went out: the next attempt need not wait for a confirmation that will never come.
        if (err.definitelyNotSent) await Promise.all([this.queue.replyDone(conversation, e.id, i, 'abort'), key ? this.contents.notSent(conversation, key) : undefined]);
        if (err.uncertain) {
          if (channel.confirmation === 'idempotent') return { kind: 'defer', ms: Math.min(this.opts.retryLaterMs, 1_000) };
          // Maybe delivered: restart the pending mark's clock and let the confirmation decide.
          await this.queue.beginReply(conversation, lock.value, e.id, i, key).catch(() => undefined);
          this.logger.warn({ ...log, code: err.code }, 'send API did not answer: waiting for the confirmation before deciding whether to send again');
          return { kind: 'defer', ms: this.opts.echoGraceMs + 10 };
        }
        if (err.retryable) {
          this.logger.warn({ ...log, err, code: err.code, attempts: err.context.attempts }, 'reply not sent after retries: the conversation waits and tries again');
          return { kind: 'defer', ms: this.opts.retryLaterMs };
        }
        this.logger.error({ ...log, err, code: err.code }, 'reply rejected by the send API: recorded as failed, moving on');
        error = `${err.code}: ${err.message}`;
        records.push(this.outbound(s, i, { mid: `failed:${e.id}:${i}`, startedAt: t0, sendMs: Date.now() - t0, error }));
        break;
      }
      // The ack records the last reply, except a keyed one: only `done` counts its content as sent.
      if (i < messages.length - 1 || key) await this.recording(conversation, lock, () => this.queue.replyDone(conversation, e.id, i));
    }
    return { kind: 'done', sent: messages.length, records, sendMs: Date.now() - started, ...(error ? { error } : {}) };
  }

  private outbound(s: Sending, i: number, fields: Partial<MessageRecord> & { mid: string }): MessageRecord {
    const m = s.messages[i]!;
    const e = s.event;
    return {
      t: 'msg',
      channel: e.channel,
      account: e.account,
      user: e.user,
      direction: 'out',
      author: s.author,
      kind: m.kind === 'attachment' ? 'attachment' : m.kind === 'buttons' ? 'buttons' : 'text',
      ...(m.text !== undefined ? { text: m.text } : {}),
      replyToMid: e.id,
      replyIndex: i,
      ...fields,
    };
  }

  /**
   * With REDIS_WAIT_REPLICAS, the "being sent" mark must reach the replicas before the send:
   * after a failover the new master then knows the reply may be out and waits for its
   * confirmation. A shortfall is counted and the reply goes out anyway (a stalled bot helps nobody).
   */
  private async replicated(conversation: string): Promise<void> {
    if (this.opts.waitReplicas <= 0) return;
    const key = this.queue.keys.conversation(conversation).sent;
    const reached = await waitForReplicas(this.queue.redis, [key], { replicas: this.opts.waitReplicas, timeoutMs: this.opts.waitTimeoutMs });
    if (reached < this.opts.waitReplicas) this.metrics.notReplicated.inc({ where: 'worker' });
  }

  /** Remembers replies that went out but whose records failed, until they are recorded. */
  remember(conversation: string, id: string, sent: number, records: ChatlogRecord[]): void {
    if (sent === 0) return;
    this.unrecorded.set(`${conversation}|${id}`, { sent, records: records.filter((x): x is MessageRecord => x.t === 'msg' && x.direction === 'out') });
    if (this.unrecorded.size > 10_000) this.unrecorded.delete(this.unrecorded.keys().next().value!);
  }

  recorded(conversation: string, id: string): void {
    this.unrecorded.delete(`${conversation}|${id}`);
  }

  /**
   * Runs a call that records a reply as sent. The reply did go out: losing that fact to a
   * passing Redis error would make the next holder send it again, so retry while the lock
   * holds (the calls are idempotent). If it still fails, the confirmation is the last guard.
   */
  async recording<T>(conversation: string, lock: ConversationLock, call: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await call();
      } catch (err) {
        if (attempt >= 6 || lock.lost) throw err;
        this.logger.warn({ conversation, err, attempt }, 'recording a sent reply failed: retrying');
        await sleep(50 * 2 ** attempt);
      }
    }
  }
}
