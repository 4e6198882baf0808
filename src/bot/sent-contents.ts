/**
 * Which of an account's messages were ours, on a channel whose echoes name no sender (Instagram:
 * no metadata, no app id). The reply ledger counts, per conversation and content key (the
 * channel's confirmation key), the sends of that content it began — recorded before the send, so
 * a reply sent just before a crash, or sent again after one, is counted — and the worker, taking
 * the echoes in conversation order (after the turn that sent them), takes one off per echo. An
 * echo of content with nothing left to take off is a message the account's people sent from
 * elsewhere (the Instagram app, Meta Business Suite): a person is at work (promise 8).
 *
 * A begun send that never went out (unless the Send API said so) leaves one count that an identical staff message later
 * consumes (that one message is not seen as a person's); counts live 48 h, longer than any
 * platform's retry horizon. The key lives under the conversation's hash tag: erased with it.
 */
import type { RedisClient } from '../queue/redis';

const TTL_MS = 48 * 3_600_000;

export class SentContents {
  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
  ) {}

  key(conversation: string): string {
    return `${this.prefix}:{${conversation}}:contents`;
  }

  /** One send of `content` begins. */
  async sending(conversation: string, content: string): Promise<void> {
    await this.redis.multi().hincrby(this.key(conversation), `n:${content}`, 1).pexpire(this.key(conversation), TTL_MS).exec();
  }

  /** A send of `content` that did not go out (the Send API refused it): no echo will come. */
  async notSent(conversation: string, content: string): Promise<void> {
    if ((await this.redis.hincrby(this.key(conversation), `n:${content}`, -1)) <= 0) await this.redis.hdel(this.key(conversation), `n:${content}`);
  }

  /**
   * Whether echo `event` of `content` is one of our sends (one fewer owed), or the account's
   * people's. The last answer is kept with its event, so an echo processed again after a crash
   * (only the event in flight is: each is acknowledged before the next) answers the same and
   * takes off one count, not two. The worker holds the conversation: no one else writes here meanwhile.
   */
  async isOurs(conversation: string, event: string, content: string | undefined): Promise<boolean> {
    if (content === undefined) return false;
    const k = this.key(conversation);
    const [last, owed] = await this.redis.hmget(k, 'last', `n:${content}`);
    if (last?.startsWith(`${event}|`)) return last.endsWith('|ours');
    const ours = Number(owed ?? 0) > 0;
    const m = this.redis.multi();
    if (ours && Number(owed) > 1) m.hset(k, `n:${content}`, Number(owed) - 1);
    else m.hdel(k, `n:${content}`);
    await m
      .hset(k, 'last', `${event}|${ours ? 'ours' : 'staff'}`)
      .pexpire(k, TTL_MS)
      .exec();
    return ours;
  }
}
