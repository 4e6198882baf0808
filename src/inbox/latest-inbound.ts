/**
 * The id of a user's latest message, per conversation, for channels whose typing indicator
 * names one (WhatsApp: it goes with marking that message read, `Channel.typingNamesMessage`).
 * The worker notes it in conversation order as it takes each user message; an agent's typing in
 * the inbox sends the indicator about it. Kept under the conversation's hash tag, so erasing the
 * conversation erases it; it lives as long as WhatsApp's customer service window (24 h).
 */
import type { RedisClient } from '../queue/redis';

const TTL_MS = 24 * 3_600_000;

export class LatestInbound {
  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
  ) {}

  key(conversation: string): string {
    return `${this.prefix}:{${conversation}}:latest-in`;
  }

  async note(conversation: string, messageId: string): Promise<void> {
    await this.redis.set(this.key(conversation), messageId, 'PX', TTL_MS);
  }

  async get(conversation: string): Promise<string | undefined> {
    return (await this.redis.get(this.key(conversation))) ?? undefined;
  }
}
