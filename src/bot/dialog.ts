/**
 * The dialog: what the bot answers in bot mode. NLU (or a button's payload) picks the
 * intent; entities fill the conversation's slots; an intent that needs a slot asks for it
 * and remembers the answer; an intent bound to an action calls it (typing shown first);
 * anything else answers from the corpus. Not understanding twice in a row offers a person,
 * three times hands the conversation over. Decisions depend only on the event and the
 * state it starts from, so processing an event again gives the same replies.
 */
import type { InboundEvent } from '../channels/event';
import type { QuickReply, Reply } from '../channels/reply';
import type { Logger } from '../log';
import type { Metrics } from '../metrics';
import { NONE } from '../nlu/model';
import type { NluService, Understanding } from '../nlu/service';
import { fnv1a } from '../queue/keys';
import type { ActionRunner, ActionSpec } from './actions';
import type { DialogState } from './context';
import type { TurnIO, TurnNlu } from './handler';
import { missing, render } from './template';

export const HANDOFF_INTENT = 'agent.handoff';
export const GET_STARTED = 'GET_STARTED';
/** Button and quick-reply payloads that name an intent: `INTENT:order.status`. */
export const INTENT_PAYLOAD = 'INTENT:';

export interface DialogResult {
  replies: Reply[];
  nlu?: TurnNlu;
  actionMs?: number;
  /** Why the conversation should go to a person, when it should. */
  handoff?: 'intent' | 'fallback';
}

export interface DialogDeps {
  nlu: NluService;
  actions: ReadonlyMap<string, ActionSpec>;
  runner: ActionRunner;
  logger: Logger;
  metrics?: Metrics;
}

const TITLES: Record<string, string> = {
  'order.status': 'Track my order',
  'returns.policy': 'Returns',
  'shipping.time': 'Shipping times',
  'delivery.problem': 'Delivery problem',
  'payment.methods': 'Payment options',
  [HANDOFF_INTENT]: 'Talk to a person',
  'greetings.thanks': 'No, thanks',
};
/** What to offer next, as quick replies, after an intent. */
const NEXT: Record<string, string[]> = {
  welcome: ['order.status', 'returns.policy', 'shipping.time', HANDOFF_INTENT],
  'greetings.hello': ['order.status', 'returns.policy', 'shipping.time', HANDOFF_INTENT],
  'order.status': ['delivery.problem', HANDOFF_INTENT],
  'delivery.problem': [HANDOFF_INTENT],
  'returns.policy': ['refund.status', HANDOFF_INTENT],
  complaint: [HANDOFF_INTENT],
  fallback: ['order.status', 'returns.policy', HANDOFF_INTENT],
  offer: [HANDOFF_INTENT, 'greetings.thanks'],
};
const FALLBACK = "Sorry, I didn't get that. I can help with orders, shipping, returns and payments — or you can ask for a person.";
const OFFER_HUMAN = "Sorry, I still don't understand. Would you like to talk to a person from our team?";
const HANDING_OVER = "I'll get a person from our team to help you. They'll reply here as soon as they can.";
const MAX_ASKS = 2;

const title = (intent: string) =>
  TITLES[intent] ??
  intent
    .split('.')
    .pop()!
    .replace(/[_-]/g, ' ')
    .replace(/^./, (c) => c.toUpperCase())
    .slice(0, 20);

/** Slot values in one canonical form, so "sh482913" and "SH-482913" are the same order. */
export function normalizeSlot(entity: string, value: string): string {
  if (entity === 'orderNumber')
    return value
      .toUpperCase()
      .replace(/^#/, '')
      .replace(/^(?:([A-Z]+)[-\s]?)?(\d+)$/, (_, p: string | undefined, n: string) => `${p ?? 'SH'}-${n}`);
  if (entity === 'email') return value.toLowerCase();
  return value;
}

export class Dialog {
  constructor(private readonly d: DialogDeps) {}

  /** NLU only, for messages the bot does not answer (human mode): the log still gets intents. */
  async understand(e: InboundEvent): Promise<TurnNlu | undefined> {
    const text = e.kind === 'text' || e.kind === 'quick_reply' ? e.text : undefined;
    return text ? nluOf(await this.d.nlu.understand(text)) : undefined;
  }

  /**
   * The NLU's best answer to a message, as a draft for an agent (human mode): the intent's
   * answer from the corpus with the known slots filled. Nothing is sent, no action runs, the
   * state is not changed. Undefined when there is nothing worth suggesting.
   */
  async draft(e: InboundEvent, s: DialogState): Promise<{ text: string; intent: string; score: number } | undefined> {
    const text = e.kind === 'text' || e.kind === 'quick_reply' ? e.text : undefined;
    if (!text) return undefined;
    const u = await this.d.nlu.understand(text);
    if (u.intent === NONE || u.intent === HANDOFF_INTENT || !this.known(u.intent)) return undefined;
    const usable = this.d.nlu.model.answers(u.intent).filter((a) => missing(a, s.slots).length === 0);
    if (!usable.length) return undefined;
    return { text: render(pick(usable, e.id), s.slots), intent: u.intent, score: u.score };
  }

  async respond(e: InboundEvent, s: DialogState, io: TurnIO): Promise<DialogResult> {
    switch (e.kind) {
      case 'text':
      case 'quick_reply':
      case 'postback':
        return this.message(e, s, io);
      case 'referral':
        return { replies: [this.answer('greetings.hello', e, s, 'welcome')], nlu: routed('greetings.hello') };
      case 'location':
        return { replies: [{ text: 'Thanks for sharing your location.' }, this.answer('store.location', e, s)] };
      case 'sticker':
        return { replies: [{ text: '👍' }] };
      default:
        return { replies: [{ text: `Thanks for the ${e.kind === 'fallback' ? 'link' : e.kind}! I can only read text, so a person from our team will look at it if you ask for one.`, quickReplies: this.suggest('fallback') }] };
    }
  }

  private async message(e: InboundEvent, s: DialogState, io: TurnIO): Promise<DialogResult> {
    const payload = e.kind === 'text' ? undefined : e.payload;
    let intent: string | undefined;
    let nlu: TurnNlu | undefined;
    let u: Understanding | undefined;
    const provided: string[] = [];
    if (payload === GET_STARTED) {
      s.awaiting = undefined;
      s.fallbacks = 0;
      return { replies: [this.answer('greetings.hello', e, s, 'welcome')], nlu: routed('greetings.hello') };
    }
    if (payload?.startsWith(INTENT_PAYLOAD) && this.known(payload.slice(INTENT_PAYLOAD.length))) {
      intent = payload.slice(INTENT_PAYLOAD.length);
      nlu = routed(intent);
    } else {
      const text = e.text ?? e.title ?? '';
      u = await this.d.nlu.understand(text);
      nlu = nluOf(u);
      intent = u.intent;
      const kinds = new Set(Object.keys(this.d.nlu.model.meta.entities));
      for (const ent of u.entities) {
        if (!kinds.has(ent.entity)) continue;
        s.slots[ent.entity] = normalizeSlot(ent.entity, ent.value);
        provided.push(ent.entity);
      }
    }

    if (s.awaiting) {
      const a = s.awaiting;
      if (provided.includes(a.slot)) {
        intent = a.intent; // "SH-482913" alone answers the question the bot asked
        s.awaiting = undefined;
      } else if (intent !== NONE && intent !== a.intent) {
        s.awaiting = undefined; // the user moved on
      } else if (a.asked < MAX_ASKS) {
        a.asked++;
        return { replies: [{ text: `Sorry, I still need that. ${this.d.nlu.model.slots(a.intent)[a.slot] ?? `What is your ${a.slot}?`}` }], ...(nlu ? { nlu } : {}) };
      } else {
        s.awaiting = undefined;
        intent = NONE;
      }
    }

    if (intent === NONE) return { ...this.fallback(e, s), ...(nlu ? { nlu } : {}) };
    s.fallbacks = 0;
    s.lastIntent = intent;
    if (intent === HANDOFF_INTENT) return { replies: [this.answer(intent, e, s)], ...(nlu ? { nlu } : {}), handoff: 'intent' };

    const need = Object.entries(this.d.nlu.model.slots(intent)).find(([slot]) => !s.slots[slot]);
    if (need) {
      s.awaiting = { intent, slot: need[0], asked: 1 };
      return { replies: [{ text: render(need[1], s.slots) }], ...(nlu ? { nlu } : {}) };
    }
    const action = this.d.actions.get(intent);
    if (action) {
      await io.typing();
      const r = await this.d.runner.run(action, { ...s.slots });
      this.d.metrics?.actionCalls.inc({ action: intent, result: r.kind });
      this.d.metrics?.actionSeconds.observe({ action: intent }, r.ms / 1000);
      if (r.kind !== 'ok') this.d.logger.warn({ action: intent, result: r.kind, detail: r.detail, attempts: r.attempts, ms: r.ms, mid: e.id }, 'action failed: answered with an apology');
      // A wrong order number should not stick: the next question asks again.
      if (r.kind === 'not_found') for (const slot of Object.keys(this.d.nlu.model.slots(intent))) delete s.slots[slot];
      const quick = r.kind === 'ok' ? this.suggest(intent) : this.suggest('offer');
      return { replies: [{ text: r.text, ...(quick ? { quickReplies: quick } : {}) }], ...(nlu ? { nlu } : {}), actionMs: r.ms };
    }
    return { replies: [this.answer(intent, e, s)], ...(nlu ? { nlu } : {}) };
  }

  private fallback(e: InboundEvent, s: DialogState): Omit<DialogResult, 'nlu'> {
    s.fallbacks++;
    if (s.fallbacks >= 3) {
      this.d.metrics?.fallbacks.inc({ outcome: 'handoff' });
      return { replies: [{ text: HANDING_OVER }], handoff: 'fallback' };
    }
    if (s.fallbacks === 2) {
      this.d.metrics?.fallbacks.inc({ outcome: 'offer_human' });
      return { replies: [{ text: OFFER_HUMAN, quickReplies: this.suggest('offer') ?? [] }] };
    }
    this.d.metrics?.fallbacks.inc({ outcome: 'fallback' });
    const own = this.d.nlu.model.answers(NONE);
    const quick = this.suggest('fallback');
    return { replies: [{ text: own.length ? pick(own, e.id) : FALLBACK, ...(quick ? { quickReplies: quick } : {}) }] };
  }

  /** The intent's answer from the corpus, with its slots filled; answers needing a missing slot are skipped. */
  private answer(intent: string, e: InboundEvent, s: DialogState, next = intent): Reply {
    const all = this.d.nlu.model.answers(intent);
    const usable = all.filter((a) => missing(a, s.slots).length === 0);
    const text = usable.length ? render(pick(usable, e.id), s.slots) : intent === HANDOFF_INTENT ? HANDING_OVER : FALLBACK;
    const quick = this.suggest(next);
    return { text, ...(quick ? { quickReplies: quick } : {}) };
  }

  private known(intent: string): boolean {
    return this.d.nlu.model.meta.intents.includes(intent);
  }

  private suggest(after: string): QuickReply[] | undefined {
    const list = (NEXT[after] ?? []).filter((i) => this.known(i) || i === HANDOFF_INTENT);
    return list.length ? list.map((i) => ({ title: title(i), payload: `${INTENT_PAYLOAD}${i}` })) : undefined;
  }
}

/** The same event always picks the same answer: a reprocessed event repeats itself exactly. */
function pick(list: readonly string[], id: string): string {
  return list[fnv1a(id) % list.length]!;
}

function routed(intent: string): TurnNlu {
  return { intent, score: 1, ms: 0 };
}

function nluOf(u: Understanding): TurnNlu {
  return { intent: u.intent, score: u.score, intents: u.intents, entities: u.entities, sentiment: u.sentiment.score, ms: u.ms };
}
