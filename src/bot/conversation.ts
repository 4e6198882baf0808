/**
 * Bot or human: who answers a conversation. Agent actions (take over, reply, release) come
 * through the conversation's own queue, so they keep their place among the user's
 * messages. In human mode the bot answers nothing (messages are still understood and
 * logged); it takes over again on release, or when the agent has been idle too long.
 * Times come from the events, so an event processed twice decides the same way.
 */
import { conversationKey } from '../channels/conversation';
import type { InboundEvent } from '../channels/event';
import type { Logger } from '../log';
import type { Metrics } from '../metrics';
import type { ContextStore, DialogState } from './context';
import type { Dialog } from './dialog';
import { agentReply, type BotHandler, type BotTurn, type TurnIO } from './handler';

export interface ConversationBotOptions {
  handoffIdleMs: number;
}

export class ConversationBot implements BotHandler {
  constructor(
    private readonly dialog: Dialog,
    private readonly contexts: ContextStore,
    private readonly opts: ConversationBotOptions,
    private readonly logger: Logger,
    private readonly metrics?: Metrics,
  ) {}

  async turn(e: InboundEvent, io: TurnIO): Promise<BotTurn> {
    const conversation = conversationKey(e);
    const before = await this.contexts.load(conversation, e.id);
    const s: DialogState = structuredClone(before);
    const turn = await this.decide(e, s, io);
    if (turn.mode) {
      this.metrics?.handoffs.inc({ mode: turn.mode.to, cause: turn.mode.cause });
      this.logger.info({ conversation, mid: e.id, mode: turn.mode.to, cause: turn.mode.cause, agent: s.agent }, turn.mode.to === 'human' ? 'conversation handed to a person' : 'bot answers the conversation again');
    }
    await this.contexts.save(conversation, e.id, before, s);
    return turn;
  }

  private async decide(e: InboundEvent, s: DialogState, io: TurnIO): Promise<BotTurn> {
    const toHuman = (cause: string, agent?: string): BotTurn['mode'] => {
      const was = s.mode;
      s.mode = 'human';
      s.humanSince = was === 'human' ? s.humanSince : e.timestamp;
      s.agentAt = e.timestamp;
      if (agent) s.agent = agent;
      s.awaiting = undefined;
      s.fallbacks = 0;
      return was === 'human' ? undefined : { to: 'human', cause };
    };
    const toBot = (cause: string): BotTurn['mode'] => {
      const was = s.mode;
      s.mode = 'bot';
      delete s.humanSince;
      delete s.agentAt;
      delete s.agent;
      return was === 'bot' ? undefined : { to: 'bot', cause };
    };
    const withMode = (t: BotTurn, mode: BotTurn['mode']): BotTurn => (mode ? { ...t, mode } : t);

    switch (e.kind) {
      case 'takeover':
        return withMode({ replies: [] }, toHuman('agent', e.agent));
      case 'release':
        return withMode({ replies: [] }, toBot('agent'));
      case 'agent':
        // Replying is taking part: the bot stays quiet from here on.
        return withMode({ replies: [agentReply(e)], author: 'agent' }, toHuman('agent_reply', e.agent));
      default:
        break;
    }
    let resumed: BotTurn['mode'];
    if (s.mode === 'human' && e.timestamp - (s.agentAt ?? s.humanSince ?? 0) > this.opts.handoffIdleMs) resumed = toBot('idle');
    if (s.mode === 'human') {
      const nlu = await this.dialog.understand(e);
      return { replies: [], ...(nlu ? { nlu } : {}) };
    }
    const r = await this.dialog.respond(e, s, io);
    const turn: BotTurn = { replies: r.replies, ...(r.nlu ? { nlu: r.nlu } : {}), ...(r.actionMs !== undefined ? { actionMs: r.actionMs } : {}) };
    return withMode(turn, r.handoff ? toHuman(r.handoff) : resumed);
  }
}
