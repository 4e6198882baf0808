/**
 * The bot seam: the worker hands it one event at a time, in order, and sends what it
 * returns. `ConversationBot` (handoff + dialog) and `EchoBot` stand behind it.
 */
import type { InboundEvent, OutboundMessage } from '../channels/messenger/types';

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
  replies: OutboundMessage[];
  /** Who speaks in `replies`: agents' messages go out with the HUMAN_AGENT tag. */
  author?: 'bot' | 'agent';
  nlu?: TurnNlu;
  actionMs?: number;
  /** The conversation switched mode during this event. */
  mode?: { to: 'bot' | 'human'; cause: string };
}

/** What a bot may do besides replying: sender actions, best effort. */
export interface TurnIO {
  typing(): Promise<void>;
}

export interface BotHandler {
  turn(event: InboundEvent, io: TurnIO): Promise<BotTurn>;
}

const MAX_TEXT = 1_900; // Messenger rejects texts over 2,000 characters

export function clip(s: string): string {
  return s.length > MAX_TEXT ? `${s.slice(0, MAX_TEXT)}…` : s;
}

/** Acknowledges what was received (BOT=echo): the ordered pipeline without a brain, for pipeline tests and load runs. */
export class EchoBot implements BotHandler {
  async turn(e: InboundEvent): Promise<BotTurn> {
    if (e.kind === 'agent') return { replies: [{ text: clip(e.text ?? '') }], author: 'agent' };
    if (e.kind === 'takeover' || e.kind === 'release') return { replies: [] };
    return { replies: this.replies(e) };
  }

  private replies(e: InboundEvent): OutboundMessage[] {
    switch (e.kind) {
      case 'text':
        return [{ text: `You said: "${clip(e.text ?? '')}"` }];
      case 'quick_reply':
        return [{ text: `You picked: ${clip(e.payload ?? e.text ?? '')}` }];
      case 'postback':
        return [{ text: `You tapped "${clip(e.title ?? '')}" (${clip(e.payload ?? '')})` }];
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
