/**
 * Per-conversation dialog state in Redis, under the conversation's hash tag, with a TTL.
 * Saved together with the id of the event that produced it and the state before that
 * event, so an event processed again (its worker died before the ack, or its reply was
 * deferred) starts from the same state and makes the same decisions.
 */
import type { RedisClient } from '../queue/redis';

export interface DialogState {
  mode: 'bot' | 'human';
  /** Human mode: when it began, who took over, and the last agent activity (for the idle release). */
  humanSince?: number;
  agent?: string;
  agentAt?: number;
  /** Remembered entity values (order number, email, product). */
  slots: Record<string, string>;
  /** A question the bot asked and waits an answer for. */
  awaiting?: { intent: string; slot: string; asked: number };
  /** Consecutive messages the bot did not understand. */
  fallbacks: number;
  lastIntent?: string;
}

interface Stored {
  at: string;
  before: DialogState;
  after: DialogState;
}

export const freshState = (): DialogState => ({ mode: 'bot', slots: {}, fallbacks: 0 });

export class ContextStore {
  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
    private readonly ttlMs: number,
  ) {}

  key(conversation: string): string {
    return `${this.prefix}:{${conversation}}:ctx`;
  }

  /** The state this event starts from. */
  async load(conversation: string, eventId: string): Promise<DialogState> {
    const raw = await this.redis.get(this.key(conversation));
    if (!raw) return freshState();
    try {
      const s = JSON.parse(raw) as Stored;
      return structuredClone(s.at === eventId ? s.before : s.after);
    } catch {
      return freshState(); // unreadable state is not worth stopping a conversation for
    }
  }

  async save(conversation: string, eventId: string, before: DialogState, after: DialogState): Promise<void> {
    const doc: Stored = { at: eventId, before, after };
    await this.redis.set(this.key(conversation), JSON.stringify(doc), 'PX', this.ttlMs);
  }

  /** The current state, for the admin API. */
  async peek(conversation: string): Promise<DialogState> {
    const raw = await this.redis.get(this.key(conversation));
    return raw ? (JSON.parse(raw) as Stored).after : freshState();
  }
}
