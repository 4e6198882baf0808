/**
 * Web chat as a channel (the worker's side): a reply is appended to the conversation's
 * transcript in Redis — the outbox the gateways push to the visitor's open tabs — once per
 * reply id (`ctx.idempotencyKey`), so a reply resent after a crash is dropped by the outbox
 * itself: the confirmation is `idempotent`. The gateways holding the visitor's sockets are
 * woken over pub/sub; a visitor who is away gets one notification per absence. Sender
 * actions: "typing" is pushed to the widget, "seen" marks the visitor's messages seen.
 */
import type { Logger } from '../../log';
import type { Metrics } from '../../metrics';
import { SendError, type Channel, type ChannelPolicy, type SendContext, type SendResult, type SenderAction } from '../channel';
import { conversationKey, type ConversationRef } from '../conversation';
import { AGENT_KINDS, type InboundEvent } from '../event';
import type { Author, Rendered, Rendering, Reply } from '../reply';
import type { Notifier } from './notify';
import type { ReplyEntry, VisitorEntry } from './protocol';
import { renderWebchat, WEBCHAT_LIMITS, type WebchatBody } from './render';
import type { WebchatStore } from './store';

export const WEBCHAT = 'webchat';

/** The visitor message an event is (its client id and transcript entry), or undefined for agents' actions. */
export function visitorEntryOf(e: InboundEvent): { cid: string; entry: VisitorEntry } | undefined {
  if (e.channel !== WEBCHAT || AGENT_KINDS.has(e.kind) || !e.mid || e.text === undefined) return undefined;
  const kind = e.kind === 'quick_reply' || e.kind === 'postback' ? e.kind : 'text';
  return { cid: e.mid, entry: { f: 'visitor', cid: e.mid, kind, text: e.text, ...(e.payload !== undefined ? { payload: e.payload } : {}) } };
}

/** What wakes a gateway: `e` new transcript entries, `typing`, `seen`. */
export type GatewayNote = { c: string; k: 'e' } | { c: string; k: 'typing'; on: boolean; by: Author } | { c: string; k: 'seen'; cid: string };

export interface WebchatChannelOptions {
  store: WebchatStore;
  notifier: Notifier;
  logger: Logger;
  metrics: Metrics;
}

export class WebchatChannel implements Channel<WebchatBody> {
  readonly type = WEBCHAT;
  readonly confirmation = 'idempotent' as const;
  readonly policy: ChannelPolicy = { maxTextLength: WEBCHAT_LIMITS.maxText, maxQuickReplies: WEBCHAT_LIMITS.maxQuickReplies, maxButtons: WEBCHAT_LIMITS.maxButtons };

  constructor(private readonly o: WebchatChannelOptions) {}

  render(replies: readonly Reply[], _to: ConversationRef, _author: Author): Rendering<WebchatBody> {
    return renderWebchat(replies);
  }

  async send(m: Rendered<WebchatBody>, ctx: SendContext): Promise<SendResult> {
    const conversation = conversationKey(ctx.to);
    const answers = visitorEntryOf(ctx.about);
    const entry: ReplyEntry = { f: ctx.author, body: m.body, ...(answers ? { re: answers.cid } : {}), n: ctx.ref.index, rid: ctx.idempotencyKey };
    let r;
    try {
      r = await this.o.store.appendReply(conversation, `r:${ctx.idempotencyKey}`, JSON.stringify(entry), answers ? { id: answers.cid, entry: JSON.stringify(answers.entry) } : undefined);
    } catch (err) {
      // The script may or may not have run: the ledger sends again, and the outbox drops a repeat.
      throw new SendError(`web chat outbox not written: ${(err as Error).message}`, { channel: WEBCHAT, code: 'redis', retryable: true, uncertain: true, attempts: 1, account: ctx.to.account, user: ctx.to.user });
    }
    this.o.metrics.webchatOutbox.inc({ result: r.duplicate ? 'duplicate' : 'appended' });
    // A repeat wakes the gateways again too: the first attempt may have died before it did.
    await this.wake(r.gateways, { c: conversation, k: 'e' });
    if (r.notify) this.o.notifier.notify(ctx.to.account, ctx.to.user, conversation, m.text);
    return { messageId: ctx.idempotencyKey, attempts: 1 };
  }

  async senderAction(to: ConversationRef, action: SenderAction, about: InboundEvent): Promise<void> {
    const conversation = conversationKey(to);
    if (action === 'seen') {
      const cid = visitorEntryOf(about)?.cid;
      if (!cid) return;
      await this.o.store.setMark(conversation, 'seen', cid);
      await this.wake(await this.o.store.gatewaysOf(conversation), { c: conversation, k: 'seen', cid });
    } else {
      await this.wake(await this.o.store.gatewaysOf(conversation), { c: conversation, k: 'typing', on: true, by: AGENT_KINDS.has(about.kind) ? 'agent' : 'bot' });
    }
  }

  /** Best effort: a gateway that misses a wake-up finds the entry on its next poll. */
  private async wake(gateways: readonly string[], note: GatewayNote): Promise<void> {
    const text = JSON.stringify(note);
    await Promise.all(
      gateways.map((g) =>
        this.o.store.redis.publish(this.o.store.gatewayChannel(g), text).catch((err) => {
          this.o.logger.debug({ err, gateway: g }, 'web chat gateway not woken (it polls)');
        }),
      ),
    );
  }
}
