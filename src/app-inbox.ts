/**
 * The agent inbox's part of a process, composed from the config (app.ts calls it): the status
 * store and its events, the handoff alerts, presence, suggestions, profiles and files, the
 * leader job (worker roles), the admin API's inbox dependencies (gateways), and the waiting
 * gauges refreshed on each scrape.
 */
import type { AccountDirectory } from './channels/accounts';
import type { Channel } from './channels/channel';
import { conversationKey, type ConversationRef } from './channels/conversation';
import type { ChatlogStream } from './chatlog/stream';
import type { Config } from './config';
import type { AdminDeps } from './admin/api';
import type { AdminUser } from './admin/users';
import { HandoffAlerts } from './inbox/alerts';
import { InboxBus } from './inbox/events';
import { FileStore } from './inbox/files';
import { InboxJanitor } from './inbox/janitor';
import { LatestInbound } from './inbox/latest-inbound';
import { Presence } from './inbox/presence';
import { ProfileService } from './inbox/profiles';
import { Inbox } from './inbox/service';
import { InboxStore } from './inbox/state';
import { SuggestionStore } from './inbox/suggestions';
import type { Logger } from './log';
import type { Metrics } from './metrics';
import type { ConversationQueue } from './queue/queue';
import type { RedisClient } from './queue/redis';

export interface InboxParts {
  inbox: Inbox;
  latest: LatestInbound;
  bus: InboxBus;
  presence: Presence;
  suggestions: SuggestionStore;
  profiles: ProfileService;
  files: FileStore;
  alerts: HandoffAlerts;
  /** What the admin API needs of the inbox (gateways). */
  admin(o: { users: () => ReadonlyMap<string, AdminUser> | undefined; port: () => number }): NonNullable<AdminDeps['inbox']>;
  startJanitor(queue: ConversationQueue): void;
  stop(): Promise<void>;
}

export function composeInbox(config: Config, d: { redis: RedisClient; chatlog: ChatlogStream; accounts: AccountDirectory; logger: Logger; metrics: Metrics; channels: () => ReadonlyMap<string, Channel> | undefined }): InboxParts {
  const { redis, chatlog, accounts, logger, metrics } = d;
  const prefix = config.redis.prefix;
  const store = new InboxStore(redis, prefix);
  const bus = new InboxBus(redis, prefix, logger);
  const alerts = new HandoffAlerts(
    {
      ...(config.inbox.webhookUrl ? { url: config.inbox.webhookUrl } : {}),
      ...(config.inbox.webhookSecret ? { secret: config.inbox.webhookSecret } : {}),
      ...(config.inbox.publicUrl ? { adminUrl: config.inbox.publicUrl } : {}),
      urlOf: (channel, account) => accounts.get(channel, account)?.inbox?.handoffWebhookUrl,
    },
    logger,
    metrics,
  );
  const inbox = new Inbox(store, { bus, alerts, chatlog, logger, metrics, accountName: (channel, account) => accounts.get(channel, account)?.name });
  const presence = new Presence(redis, prefix);
  const suggestions = new SuggestionStore(redis, prefix);
  const channels = () => d.channels() ?? new Map<string, Channel>();
  const profiles = new ProfileService(redis, prefix, channels, chatlog, logger, metrics);
  const files = new FileStore(redis, prefix);
  const latest = new LatestInbound(redis, prefix);
  let janitor: InboxJanitor | undefined;

  // The waiting gauges, read from Redis when Prometheus scrapes (the same value in every role).
  Object.assign(metrics.handoffWaitingOldest, {
    collect: async () => {
      try {
        const [oldest, n] = await Promise.all([store.oldestWaiting(), redis.zcard(store.waitingKey)]);
        metrics.handoffWaitingOldest.set(oldest === undefined ? 0 : Math.max(0, (Date.now() - oldest) / 1000));
        metrics.inboxWaiting.set(n);
      } catch (err) {
        logger.warn({ err }, 'inbox gauges not refreshed: redis unavailable');
      }
    },
  });

  // An agent's typing: where the channel's indicator names a message (WhatsApp), the user's latest.
  const typing = async (c: ConversationRef) => {
    const channel = channels().get(c.channel);
    if (!channel?.senderAction) return;
    const replyTo = channel.typingNamesMessage ? await latest.get(conversationKey(c)) : undefined;
    if (channel.typingNamesMessage && !replyTo) return;
    const now = Date.now();
    await channel.senderAction(c, 'typing', { ...c, id: `typing:${now}`, kind: 'agent', timestamp: now, receivedAt: now, ...(replyTo ? { replyTo } : {}) });
  };

  return {
    inbox,
    bus,
    presence,
    suggestions,
    profiles,
    files,
    alerts,
    latest,
    admin: (o) => ({
      inbox,
      presence,
      suggestions,
      profiles,
      bus,
      files,
      csat: config.inbox.csat,
      users: o.users,
      typing,
      publicUrl: () => config.inbox.publicUrl ?? (config.production ? undefined : `http://127.0.0.1:${o.port()}`),
      maxBytes: config.inbox.attachmentMaxBytes,
    }),
    startJanitor(queue) {
      janitor = new InboxJanitor(
        inbox,
        queue,
        presence,
        {
          noticeMs: config.inbox.noticeMinutes * 60_000,
          roundRobin: config.inbox.autoAssign === 'round-robin',
          serves: (c, a) => accounts.serves(c, a),
        },
        logger,
      );
      janitor.start();
    },
    async stop() {
      await janitor?.stop();
      await profiles.drain();
      bus.close();
    },
  };
}
