/**
 * The wiring of channel adapters: the one file that knows every platform. From the
 * configuration it builds the account directory, the ingresses (what platforms POST to) and
 * the channels (what workers send through). The core never imports this file; `app.ts` does.
 * Adding a channel: an adapter folder, then its entry here (docs/channels.md).
 */
import type express from 'express';
import type { ReceiptRecord } from '../chatlog/records';
import type { Config } from '../config';
import { ConfigError } from '../config';
import type { ChannelEntry } from '../config-channels';
import type { Logger } from '../log';
import type { Metrics } from '../metrics';
import type { RedisClient } from '../queue/redis';
import { AccountDirectory, type Account } from './accounts';
import type { Channel, Ingress } from './channel';
import type { SendError } from './channel';
import { GraphClient } from './meta/graph';
import { MetaIngress, type ObjectParser } from './meta/ingress';
import { MessengerChannel, parseMessengerWebhook, type PageAccount } from './messenger/channel';
import type { ParseResult } from './event';
import { WebchatChannel } from './webchat/channel';
import { WebchatGateway } from './webchat/gateway';
import { Notifier } from './webchat/notify';
import { webchatRouter } from './webchat/routes';
import { checkWebchatEntry, DEV_SITE, siteOf, type WebchatSite } from './webchat/sites';
import { WebchatStore } from './webchat/store';

/** What each adapter took from the configuration. */
export interface ChannelSettings {
  messenger: { pages: Map<string, PageAccount>; defaultToken?: string };
  webchat: { sites: Map<string, WebchatSite> };
}

export interface LoadedChannels {
  settings: ChannelSettings;
  accounts: AccountDirectory;
}

/** Own fields of one CHANNELS_FILE entry, per channel type: the problems, or nothing. */
const ENTRY_CHECKS: Record<string, (e: ChannelEntry) => string[]> = {
  messenger: (e) => (typeof e.fields.accessToken === 'string' && e.fields.accessToken.length >= 8 ? [] : [`${e.where}.accessToken must be the page's access token (at least 8 characters)`]),
  webchat: checkWebchatEntry,
};

/** Every account from CHANNELS_FILE, PAGES_FILE and FB_PAGE_ACCESS_TOKEN; throws a ConfigError naming every problem. */
export function loadChannels(config: Config): LoadedChannels {
  const problems: string[] = [];
  const entries = config.channels ?? [];
  for (const e of entries) {
    const check = ENTRY_CHECKS[e.type];
    if (!check) problems.push(`${e.where}.type ${JSON.stringify(e.type)} is not a channel this version has (${Object.keys(ENTRY_CHECKS).join(', ')})`);
    else problems.push(...check(e));
  }
  const pages = new Map<string, PageAccount>();
  for (const e of entries.filter((x) => x.type === 'messenger')) pages.set(e.id, { id: e.id, accessToken: String(e.fields.accessToken), ...(e.name ? { name: e.name } : {}) });
  for (const p of config.fb.pages?.values() ?? []) {
    if (pages.has(p.id)) problems.push(`page ${p.id} is in both CHANNELS_FILE and PAGES_FILE: list it once`);
    pages.set(p.id, p);
  }
  if (problems.length) throw new ConfigError(problems);
  const sites = new Map(entries.filter((e) => e.type === 'webchat').map((e) => [e.id, siteOf(e)]));
  // Dev mode (no CHANNELS_FILE) has a web chat site any page of this machine can embed.
  const devSite = !config.production && config.channels === undefined;
  if (devSite) sites.set(DEV_SITE.id, DEV_SITE);
  const accounts: Account[] = [
    ...(devSite ? [{ channel: 'webchat', id: DEV_SITE.id, name: DEV_SITE.name! }] : []),
    ...[...pages.values()].map((p) => ({ channel: 'messenger', id: p.id, ...(p.name ? { name: p.name } : {}) })),
    ...entries.filter((e) => e.type !== 'messenger').map((e) => ({ channel: e.type, id: e.id, ...(e.name ? { name: e.name } : {}) })),
  ];
  // Neither CHANNELS_FILE nor PAGES_FILE: every page is served (with FB_PAGE_ACCESS_TOKEN), as before channels.
  const open = new Set(config.channels === undefined && config.fb.pages === undefined ? ['messenger'] : []);
  return {
    settings: { messenger: { pages, ...(pages.size === 0 && config.fb.defaultPageToken !== undefined ? { defaultToken: config.fb.defaultPageToken } : {}) }, webchat: { sites } },
    accounts: new AccountDirectory(accounts, open),
  };
}

/** What platforms POST to (gateway role). */
export function buildIngresses(loaded: LoadedChannels, config: Config): Ingress[] {
  const meta = new Map<string, ObjectParser>([['page', parseMessengerWebhook]]);
  return [new MetaIngress({ appSecret: config.fb.appSecret, verifyToken: config.fb.verifyToken, allowSha1: config.fb.allowSha1, parsers: meta })];
}

export interface SendSetup {
  /** Graph API base URL (the dev emulator's when GRAPH_API_URL is not set). */
  graphApiUrl: string;
  onRetry: (err: SendError, delayMs: number) => void;
  /** Web chat writes replies to its outboxes in Redis. */
  redis: RedisClient;
  logger: Logger;
  metrics: Metrics;
}

/** What workers send through (worker role). */
export function buildChannels(loaded: LoadedChannels, config: Config, setup: SendSetup): { channels: Map<string, Channel>; close(): void } {
  const graph = new GraphClient({
    baseUrl: setup.graphApiUrl, timeoutMs: config.send.timeoutMs, maxAttempts: config.send.maxAttempts,
    backoffBaseMs: config.send.backoffBaseMs, backoffMaxMs: config.send.backoffMaxMs, onRetry: setup.onRetry,
  });
  const m = loaded.settings.messenger;
  const channels = new Map<string, Channel>([
    ['messenger', new MessengerChannel({ graph, pages: m.pages, ...(m.defaultToken ? { defaultToken: m.defaultToken } : {}) }) as Channel],
  ]);
  const sites = loaded.settings.webchat.sites;
  if (sites.size) {
    const notifier = new Notifier(sites, setup.logger, (result) => setup.metrics.webchatNotifications.inc({ result }));
    channels.set('webchat', new WebchatChannel({ store: webchatStore(setup.redis, config), notifier, logger: setup.logger, metrics: setup.metrics }) as Channel);
  }
  return { channels, close: () => graph.close() };
}

const webchatStore = (redis: RedisClient, config: Config) => new WebchatStore(redis, config.redis.prefix, config.queue.dedupeTtlMs);

export interface SocketSetup {
  redis: RedisClient;
  logger: Logger;
  metrics: Metrics;
  /** The gateway's ingest: queues parsed events durably. */
  ingest(parsed: ParseResult): Promise<unknown>;
  /** Appends records (receipts) to the chatlog stream. */
  record(receipts: ReceiptRecord[]): Promise<void>;
}

/** Web chat's sockets and widget files (gateway role), when there is a site. */
export function buildWebchat(loaded: LoadedChannels, config: Config, setup: SocketSetup): { gateway: WebchatGateway; router: express.Router } | undefined {
  const sites = loaded.settings.webchat.sites;
  if (!sites.size) return undefined;
  return {
    gateway: new WebchatGateway({ sites, store: webchatStore(setup.redis, config), logger: setup.logger, metrics: setup.metrics, ingest: setup.ingest, record: setup.record }),
    router: webchatRouter(sites, { demo: sites.has(DEV_SITE.id) && !config.production }),
  };
}
