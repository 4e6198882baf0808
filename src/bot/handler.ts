/**
 * The bot seam: the worker hands it one event at a time, in order, and sends what it
 * returns. `ConversationBot` (handoff + dialog) and `EchoBot` stand behind it.
 */
import { isAnswered, type InboundEvent } from '../channels/event';
import type { ChatlogRecord } from '../chatlog/records';
import type { Author, Reply } from '../channels/reply';

export interface TurnNlu {
  intent: string;
  score: number;
  intents?: { intent: string; score: number }[];
  entities?: unknown[];
  sentiment?: number;
  ms: number;
}

/** What the bot made of one event: its replies, and what the chatlog records about it. */
export interface BotTurn {
  replies: Reply[];
  /** Who speaks in `replies`: agents' messages may need a platform's human-agent tag. */
  author?: Author;
  nlu?: TurnNlu;
  actionMs?: number;
  /** The conversation switched mode during this event. */
  mode?: { to: 'bot' | 'human'; cause: string };
  /** Chatlog records of this event besides its messages (inbox status changes, a CSAT answer); when set, `mode` makes no record of its own. */
  records?: ChatlogRecord[];
}

/** What a bot may do besides replying: sender actions, best effort. */
export interface TurnIO {
  typing(): Promise<void>;
}

export interface BotHandler {
  turn(event: InboundEvent, io: TurnIO): Promise<BotTurn>;
}

/** An agent's reply as the user gets it: text, or a file the agent attached. */
export function agentReply(e: InboundEvent): Reply {
  const a = e.attachments?.[0];
  return {
    ...(e.text !== undefined ? { text: e.text } : {}),
    ...(a?.url ? { attachment: { type: (['image', 'video', 'audio'].includes(a.type) ? a.type : 'file') as 'image' | 'video' | 'audio' | 'file', url: a.url, ...(a.title ? { name: a.title } : {}) } } : {}),
  };
}

/** Acknowledges what was received (BOT=echo): the ordered pipeline without a brain, for pipeline tests and load runs. */
export class EchoBot implements BotHandler {
  async turn(e: InboundEvent): Promise<BotTurn> {
    if (e.kind === 'agent') return { replies: [agentReply(e)], author: 'agent' };
    if (!isAnswered(e)) return { replies: [] }; // takeover, release, the inbox's own events
    return { replies: this.replies(e) };
  }

  private replies(e: InboundEvent): Reply[] {
    switch (e.kind) {
      case 'text':
        return [{ text: `You said: "${e.text ?? ''}"` }];
      case 'quick_reply':
        return [{ text: `You picked: ${e.payload ?? e.text ?? ''}` }];
      case 'postback':
        return [{ text: `You tapped "${e.title ?? ''}" (${e.payload ?? ''})` }];
      case 'referral':
        return [{ text: `Welcome! You came from ${e.referral?.source ?? 'a link'}${e.referral?.ref ? ` (ref ${e.referral.ref})` : ''}.` }];
      case 'location': {
        const c = e.attachments?.[0]?.coordinates;
        return [{ text: c ? `Got your location: ${c.lat}, ${c.long}` : 'Got your location.' }];
      }
      default: {
        const n = e.attachments?.length ?? 0;
        return [{ text: n > 1 ? `Got your ${n} attachments (${e.attachments!.map((a) => a.type).join(', ')}).` : `Got your ${e.kind}.` }];
      }
    }
  }
}
