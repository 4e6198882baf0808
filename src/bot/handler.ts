/**
 * The bot seam: the worker hands it one inbound event at a time, in order, and sends what
 * it returns. The NLU-driven dialog replaces AckBot behind the same interface.
 */
import type { InboundEvent, OutboundMessage } from '../channels/messenger/types';

/** What the bot made of one event: its replies, and what the chatlog records about it. */
export interface BotTurn {
  replies: OutboundMessage[];
  nlu?: { intent: string; score: number; intents?: { intent: string; score: number }[]; entities?: unknown[]; sentiment?: number; ms: number };
  actionMs?: number;
}

export interface BotHandler {
  turn(event: InboundEvent): Promise<BotTurn>;
}

const MAX_TEXT = 1_900; // Messenger rejects texts over 2,000 characters

function quote(s: string): string {
  return s.length > MAX_TEXT ? `${s.slice(0, MAX_TEXT)}…` : s;
}

/** Acknowledges what was received, so the ordered pipeline can be used and tested end to end. */
export class AckBot implements BotHandler {
  async turn(e: InboundEvent): Promise<BotTurn> {
    return { replies: this.replies(e) };
  }

  private replies(e: InboundEvent): OutboundMessage[] {
    switch (e.kind) {
      case 'text':
        return [{ text: `You said: "${quote(e.text ?? '')}"` }];
      case 'quick_reply':
        return [{ text: `You picked: ${quote(e.payload ?? e.text ?? '')}` }];
      case 'postback':
        return [{ text: `You tapped "${quote(e.title ?? '')}" (${quote(e.payload ?? '')})` }];
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
