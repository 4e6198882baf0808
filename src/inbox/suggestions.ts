/**
 * The AI-suggested reply of a conversation in a person's hands: the NLU's best answer to the
 * user's last message, kept under the conversation's hash tag (erased with it) for the agent,
 * who may send it, edit it or ignore it. It is never sent on its own.
 */
import type { RedisClient } from '../queue/redis';

export interface Suggestion {
  text: string;
  intent: string;
  score: number;
  /** The inbound event it answers. */
  forMessage: string;
  at: number;
}

const TTL_MS = 7 * 24 * 3_600_000;

export class SuggestionStore {
  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
  ) {}

  key(conversation: string): string {
    return `${this.prefix}:{${conversation}}:suggest`;
  }

  async save(conversation: string, s: Suggestion): Promise<void> {
    await this.redis.set(this.key(conversation), JSON.stringify(s), 'PX', TTL_MS);
  }

  async get(conversation: string): Promise<Suggestion | undefined> {
    const raw = await this.redis.get(this.key(conversation));
    if (!raw) return undefined;
    try {
      return JSON.parse(raw) as Suggestion;
    } catch {
      return undefined;
    }
  }
}
