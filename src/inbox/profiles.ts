/**
 * Who the user is: a name and an avatar from the platform's profile API (Messenger, Instagram,
 * LINE) or from the webhook itself (WhatsApp's contact name), cached in Redis under the
 * conversation's hash tag (so erasure removes it) for PROFILE_TTL, and written to the chatlog
 * (`conversations.display_name`, `first_name`, `avatar_url`) for the list view. Looked up off the
 * ordered path: a worker fires the look-up and answers the message without waiting for it.
 */
import type { Channel, UserProfile } from '../channels/channel';
import { conversationKey, conversationOf, type ConversationRef } from '../channels/conversation';
import type { InboundEvent } from '../channels/event';
import type { ChatlogStream } from '../chatlog/stream';
import type { Logger } from '../log';
import type { Metrics } from '../metrics';
import type { RedisClient } from '../queue/redis';

export const PROFILE_TTL_MS = 24 * 3_600_000;
/** Conversations this process looked up recently (bounded): no Redis call per message. */
const SEEN_MAX = 20_000;

export class ProfileService {
  private readonly seen = new Map<string, number>();
  private readonly inflight = new Set<Promise<void>>();

  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
    private readonly channels: () => ReadonlyMap<string, Channel>,
    private readonly chatlog: ChatlogStream | undefined,
    private readonly logger: Logger,
    private readonly metrics?: Pick<Metrics, 'profiles'>,
  ) {}

  key(conversation: string): string {
    return `${this.prefix}:{${conversation}}:profile`;
  }

  /** Starts a look-up if this conversation has no fresh profile; never waits for it. */
  ensure(e: InboundEvent): void {
    const ref = conversationOf(e);
    const key = conversationKey(ref);
    const now = Date.now();
    if ((this.seen.get(key) ?? 0) > now - PROFILE_TTL_MS && !e.profileName) return;
    if (this.seen.size >= SEEN_MAX) this.seen.delete(this.seen.keys().next().value!);
    this.seen.set(key, now);
    const p = this.lookUp(ref, key, e.profileName)
      .catch((err) => {
        this.metrics?.profiles.inc({ channel: ref.channel, result: 'error' });
        this.logger.debug({ err, conversation: key }, 'profile look-up failed (the raw id is shown)');
      })
      .finally(() => this.inflight.delete(p));
    this.inflight.add(p);
  }

  private async lookUp(ref: ConversationRef, key: string, webhookName?: string): Promise<void> {
    const cached = await this.redis.hgetall(this.key(key));
    if (webhookName ? cached.name === webhookName : cached.at) return;
    let profile: UserProfile | undefined;
    if (webhookName) profile = { name: webhookName, firstName: webhookName.split(' ')[0]! };
    else profile = await this.channels().get(ref.channel)?.profile?.(ref);
    this.metrics?.profiles.inc({ channel: ref.channel, result: profile ? 'ok' : 'none' });
    const at = Date.now();
    await this.redis
      .multi()
      .hset(this.key(key), { at, ...(profile?.name ? { name: profile.name } : {}), ...(profile?.firstName ? { firstName: profile.firstName } : {}), ...(profile?.avatarUrl ? { avatarUrl: profile.avatarUrl } : {}) })
      .pexpire(this.key(key), PROFILE_TTL_MS)
      .exec();
    if (profile) await this.chatlog?.append([{ t: 'profile', ...ref, at, ...profile }]);
  }

  async get(conversation: string): Promise<UserProfile | undefined> {
    const h = await this.redis.hgetall(this.key(conversation));
    return h.name || h.avatarUrl ? { ...(h.name ? { name: h.name } : {}), ...(h.firstName ? { firstName: h.firstName } : {}), ...(h.avatarUrl ? { avatarUrl: h.avatarUrl } : {}) } : undefined;
  }

  async drain(): Promise<void> {
    await Promise.allSettled([...this.inflight]);
  }
}
