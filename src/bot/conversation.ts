/**
 * Who answers a conversation: the bot, or a person. The conversation's inbox status (Redis,
 * src/inbox) decides: in `waiting`, `assigned` and `snoozed` the bot answers nothing (messages
 * are still understood and logged, and the NLU's best answer is kept as a draft for the agent);
 * in `bot` and `resolved` it answers. Agent actions (take over, reply, release) and the inbox's
 * own events come through the conversation's own queue, so they keep their place among the
 * user's messages. Times come from the events, and status changes carry the event's id, so an
 * event processed twice decides the same way.
 */
import { conversationKey } from '../channels/conversation';
import { isAnswered, type InboundEvent } from '../channels/event';
import { PAGE_INBOX } from '../inbox/state';
import type { LatestInbound } from '../inbox/latest-inbound';
import type { ProfileService } from '../inbox/profiles';
import type { SuggestionStore } from '../inbox/suggestions';
import type { Logger } from '../log';
import type { Metrics } from '../metrics';
import type { ContextStore, DialogState } from './context';
import { csatAnswer, csatReply, CSAT_SURVEY } from './csat';
import type { Dialog } from './dialog';
import { agentReply, type BotHandler, type BotTurn, type TurnIO } from './handler';
import { inboxEventTurn, TurnInbox, type InboxTurnDeps } from './inbox-turn';

export interface ConversationBotOptions {
  handoffIdleMs: number;
  /** What a user waiting for a person is told after HANDOFF_NOTICE_MINUTES. */
  noticeText?: string;
}

export interface ConversationInbox extends InboxTurnDeps {
  profiles?: ProfileService;
  suggestions?: SuggestionStore;
  /** The user's latest message id, where an agent's typing indicator names it (WhatsApp). */
  latest?: LatestInbound;
}

export const NOTICE_TEXT = 'Thanks for waiting. Everyone on our team is busy right now; a person will answer you here as soon as one is free, usually within the hour.';

export class ConversationBot implements BotHandler {
  constructor(
    private readonly dialog: Dialog,
    private readonly contexts: ContextStore,
    private readonly opts: ConversationBotOptions,
    private readonly logger: Logger,
    private readonly metrics: Metrics | undefined,
    private readonly inbox: ConversationInbox,
  ) {}

  async turn(e: InboundEvent, io: TurnIO): Promise<BotTurn> {
    const conversation = conversationKey(e);
    // Both reads (and the note of a user's message id for the agents' typing) go out together: one round trip's wait.
    const notes = e.mid && isAnswered(e) && this.inbox.latest && this.inbox.channels?.().get(e.channel)?.typingNamesMessage;
    const [before, state] = await Promise.all([this.contexts.load(conversation, e.id), this.inbox.inbox.store.read(conversation), notes ? this.inbox.latest!.note(conversation, e.mid!) : undefined]);
    const s: DialogState = structuredClone(before);
    const t = new TurnInbox(this.inbox, e, state);
    // A conversation in human mode before the inbox existed keeps its person.
    if (!state.exists && s.mode === 'human') await t.change('adopt', 'system', 'migrated', { arg: s.agent ? 'assigned' : 'waiting', ...(s.agent ? { actor: s.agent } : {}) });
    const turn = await this.decide(e, s, t, io);
    s.mode = t.human ? 'human' : 'bot';
    if (t.state.agent) s.agent = t.state.agent;
    else delete s.agent;
    if (t.mode) {
      this.metrics?.handoffs.inc({ mode: t.mode.to, cause: t.mode.cause });
      this.logger.info({ conversation, mid: e.id, mode: t.mode.to, cause: t.mode.cause, status: t.state.status, agent: t.state.agent }, t.mode.to === 'human' ? 'conversation handed to a person' : 'bot answers the conversation again');
    }
    await this.contexts.save(conversation, e.id, before, s);
    if (e.kind !== 'agent' && e.kind !== 'takeover' && e.kind !== 'release') this.inbox.profiles?.ensure(e);
    return { ...turn, ...(t.mode ? { mode: t.mode } : {}), records: [...t.records, ...(turn.records ?? [])] };
  }

  private async decide(e: InboundEvent, s: DialogState, t: TurnInbox, io: TurnIO): Promise<BotTurn> {
    if (e.kind === 'agent') {
      // Replying is taking part: the conversation is the agent's (unless someone else holds it).
      await t.control('take');
      await t.change('agent', e.agent ?? 'admin', 'agent_reply', { actor: e.agent ?? 'admin' });
      return { replies: [agentReply(e)], author: 'agent' };
    }
    if (e.kind === 'notice') {
      // Sent once, and only if the same wait is still unclaimed (payload: the wait's start). Not
      // while the Page Inbox has the thread: only its owner may write, and its staff see the wait.
      const still = t.state.status === 'waiting' && String(t.state.waitingSince) === e.payload && t.state.thread !== 'inbox';
      return { replies: still ? [{ text: this.opts.noticeText ?? NOTICE_TEXT }] : [] };
    }
    if (e.kind === 'csat') {
      // Queued by a resolve: the thread back from the Page Inbox, then the survey (unless CSAT_SURVEY=false).
      await t.control('take');
      return { replies: !t.human && e.payload !== 'skip' ? [CSAT_SURVEY] : [] };
    }
    const inboxTurn = await inboxEventTurn(t);
    if (inboxTurn) return inboxTurn;

    const answer = csatAnswer(e);
    if (answer !== undefined) {
      const agent = t.state.lastAgent;
      return { replies: [csatReply(answer)], records: [{ t: 'csat', channel: e.channel, account: e.account, user: e.user, id: e.id, score: answer, at: e.timestamp, ...(agent && agent !== PAGE_INBOX ? { agent } : {}) }] };
    }
    // The user wrote: a snoozed conversation wakes, a resolved one is the bot's again, and a
    // person idle too long gives it back to the bot (HANDOFF_IDLE_MINUTES).
    if (t.state.status !== 'bot') {
      const idle = t.state.status === 'waiting' || t.state.status === 'assigned' ? 'idle' : t.state.status === 'snoozed' ? 'user_wrote_snoozed' : 'user_wrote';
      await t.change('user', 'system', idle, { arg: this.opts.handoffIdleMs });
      if (!t.human) await t.control('take');
    }
    if (t.human) {
      const nlu = await this.dialog.understand(e);
      // The NLU's best answer, for the agent to send or not: never sent on its own.
      const draft = await this.dialog.draft(e, s);
      if (draft) await this.inbox.suggestions?.save(conversationKey(e), { ...draft, forMessage: e.id, at: e.timestamp });
      return { replies: [], ...(nlu ? { nlu } : {}) };
    }
    const r = await this.dialog.respond(e, s, io);
    if (r.handoff) await t.handoff(r.handoff);
    return { replies: r.replies, ...(r.nlu ? { nlu: r.nlu } : {}), ...(r.actionMs !== undefined ? { actionMs: r.actionMs } : {}) };
  }
}
