/**
 * The wiring of channel adapters: the one file that knows every platform. From the
 * configuration it builds the account directory, the ingresses (what platforms POST to) and
 * the channels (what workers send through). The core never imports this file; `app.ts` does.
 * Adding a channel: an adapter folder, then its lines here (docs/channels.md).
 */
import type express from 'express';
import type { ReceiptRecord } from '../chatlog/records';
import type { Config } from '../config';
import { ConfigError, DEFAULT_LINE_API_URL } from '../config';
import type { ChannelEntry } from '../config-channels';
import type { Logger } from '../log';
import type { Metrics } from '../metrics';
import type { RedisClient } from '../queue/redis';
import { AccountDirectory, type Account } from './accounts';
import type { Channel, Ingress, SendContext, SendError } from './channel';
import { checkInstagramEntry, DEV_INSTAGRAM, instagramAccountOf, instagramInbox } from './instagram/account';
import { InstagramChannel, type InstagramAccount } from './instagram/channel';
import { parseInstagramWebhook } from './instagram/parse';
import { checkLineEntry, DEV_LINE_ACCOUNT, lineAccountOf, type LineAccount } from './line/account';
import { LineApi } from './line/api';
import { LineChannel } from './line/channel';
import { LineIngress, type LineIngressObserver } from './line/ingress';
import { GraphClient } from './meta/graph';
import { MetaIngress, type ObjectParser } from './meta/ingress';
import { checkMessengerEntry, MessengerChannel, messengerInbox, pageAccountOf, parseMessengerWebhook, type PageAccount } from './messenger/channel';
import { checkWhatsAppEntry, DEV_WHATSAPP_NUMBER, WhatsAppChannel, whatsAppNumberOf, type WhatsAppNumber } from './whatsapp/channel';
import { parseWhatsAppWebhook } from './whatsapp/parse';
import type { ParseResult } from './event';
import { WebchatChannel } from './webchat/channel';
import { WebchatGateway } from './webchat/gateway';
import { Notifier } from './webchat/notify';
import { webchatRouter } from './webchat/routes';
import { checkWebchatEntry, DEV_SITE, siteOf, type WebchatSite } from './webchat/sites';
import { WebchatStore } from './webchat/store';

export { DEV_INSTAGRAM, DEV_LINE_ACCOUNT, DEV_WHATSAPP_NUMBER };

/** What each adapter took from the configuration, by account id. */
export interface ChannelSettings {
  messenger: { pages: Map<string, PageAccount>; defaultToken?: string };
  instagram: { accounts: Map<string, InstagramAccount> };
  whatsapp: { numbers: Map<string, WhatsAppNumber> };
  /** By bot user id (the webhooks' `destination`). */
  line: { accounts: Map<string, LineAccount> };
  webchat: { sites: Map<string, WebchatSite> };
}

export interface LoadedChannels {
  settings: ChannelSettings;
  accounts: AccountDirectory;
}

/** Own fields of one CHANNELS_FILE entry, per channel type: the problems, or none. */
const ENTRY_CHECKS: Record<string, (e: ChannelEntry) => string[]> = {
  messenger: checkMessengerEntry,
  instagram: checkInstagramEntry,
  whatsapp: checkWhatsAppEntry,
  line: checkLineEntry,
  webchat: checkWebchatEntry,
};

const byId = <T extends { id: string }>(entries: readonly ChannelEntry[], type: string, of: (e: ChannelEntry) => T) => new Map(entries.filter((e) => e.type === type).map((e) => [e.id, of(e)]));

/** Every account from CHANNELS_FILE, PAGES_FILE and FB_PAGE_ACCESS_TOKEN; throws a ConfigError naming every problem. */
export function loadChannels(config: Config): LoadedChannels {
  const problems: string[] = [];
  const entries = config.channels ?? [];
  for (const e of entries) {
    const check = ENTRY_CHECKS[e.type];
    if (!check) problems.push(`${e.where}.type ${JSON.stringify(e.type)} is not a channel this version has (${Object.keys(ENTRY_CHECKS).join(', ')})`);
    else problems.push(...check(e));
  }
  const pages = byId(entries, 'messenger', pageAccountOf);
  for (const p of config.fb.pages?.values() ?? []) {
    if (pages.has(p.id)) problems.push(`page ${p.id} is in both CHANNELS_FILE and PAGES_FILE: list it once`);
    pages.set(p.id, p);
  }
  if (problems.length) throw new ConfigError(problems);
  const settings: ChannelSettings = {
    messenger: { pages },
    instagram: { accounts: byId(entries, 'instagram', instagramAccountOf) },
    whatsapp: { numbers: byId(entries, 'whatsapp', whatsAppNumberOf) },
    line: { accounts: byId(entries, 'line', lineAccountOf) },
    webchat: { sites: byId(entries, 'webchat', siteOf) },
  };
  // Neither CHANNELS_FILE nor PAGES_FILE: every page is served (with FB_PAGE_ACCESS_TOKEN), as before channels.
  const open = config.channels === undefined && config.fb.pages === undefined;
  if (open && pages.size === 0 && config.fb.defaultPageToken !== undefined) settings.messenger.defaultToken = config.fb.defaultPageToken;
  // Dev mode with nothing configured: one account of each channel, served by the built-in emulators
  // (Meta's through the Graph API emulator, so only without GRAPH_API_URL).
  if (!config.production && config.channels === undefined) {
    settings.line.accounts.set(DEV_LINE_ACCOUNT.id, DEV_LINE_ACCOUNT);
    // A web chat site any page of this machine can embed (/webchat/demo does).
    settings.webchat.sites.set(DEV_SITE.id, DEV_SITE);
    if (open && config.fb.graphApiUrl === undefined) {
      settings.instagram.accounts.set(DEV_INSTAGRAM.id, DEV_INSTAGRAM);
      settings.whatsapp.numbers.set(DEV_WHATSAPP_NUMBER.id, DEV_WHATSAPP_NUMBER);
    }
  }
  const listed = (channel: string, m: Map<string, { id: string; name?: string }>): Account[] => [...m.values()].map((a) => ({ channel, id: a.id, ...(a.name ? { name: a.name } : {}) }));
  const accounts = [
    ...listed('messenger', settings.messenger.pages),
    ...listed('instagram', settings.instagram.accounts),
    ...listed('whatsapp', settings.whatsapp.numbers),
    ...listed('line', settings.line.accounts),
    ...listed('webchat', settings.webchat.sites),
  ];
  // The inbox's per-account settings (handoff alerts; Messenger: Handover Protocol; Messenger, Instagram: staff echoes).
  const entryOf = new Map(entries.map((e) => [`${e.type}:${e.id}`, e]));
  for (const a of accounts) {
    const e = entryOf.get(`${a.channel}:${a.id}`);
    const staff = a.channel === 'messenger' ? (e ? messengerInbox(e) : { staffEchoes: true }) : a.channel === 'instagram' ? instagramInbox(e) : {};
    const inbox = { ...staff, ...(typeof e?.fields.handoffWebhookUrl === 'string' ? { handoffWebhookUrl: e.fields.handoffWebhookUrl } : {}) };
    if (Object.keys(inbox).length) a.inbox = inbox;
  }
  return { settings, accounts: new AccountDirectory(accounts, new Set(open ? ['messenger'] : [])) };
}

/** Where ingresses report what they see but do not queue (LINE's group chats, redeliveries). */
export interface IngressDeps {
  metrics: Metrics;
  logger: Logger;
}

function lineObserver({ metrics, logger }: IngressDeps): LineIngressObserver {
  return {
    skipped: (s, account) => {
      metrics.webhookEvents.inc({ channel: 'line', kind: s.type, outcome: `unsupported_${s.reason}` });
      const msg = s.reason === 'channel_event' ? 'LINE channel event recorded in the log only (not a user chat)' : 'LINE event from a group or multi-person chat: not answered (one-on-one chats only), counted';
      logger[s.type === 'join' || s.reason === 'channel_event' ? 'info' : 'debug']({ channel: 'line', account, type: s.type, reason: s.reason, webhookEventId: s.id }, msg);
    },
    redelivered: (n, account) => {
      metrics.redeliveries.inc({ channel: 'line' }, n);
      logger.debug({ channel: 'line', account, events: n }, 'LINE redelivered events (isRedelivery): the dedupe drops those already queued');
    },
  };
}

/** What platforms POST to (gateway role). */
export function buildIngresses(loaded: LoadedChannels, config: Config, deps?: IngressDeps): Ingress[] {
  const meta = new Map<string, ObjectParser>([
    ['page', parseMessengerWebhook],
    ['instagram', parseInstagramWebhook],
    ['whatsapp_business_account', parseWhatsAppWebhook],
  ]);
  const ingresses: Ingress[] = [new MetaIngress({ appSecret: config.fb.appSecret, verifyToken: config.fb.verifyToken, allowSha1: config.fb.allowSha1, parsers: meta })];
  const line = loaded.settings.line.accounts;
  if (line.size) ingresses.push(new LineIngress(line.values(), deps && lineObserver(deps)));
  return ingresses;
}

export interface SendSetup {
  /** Graph API base URL (the dev emulator's when GRAPH_API_URL is not set). */
  graphApiUrl: string;
  /** LINE API base URL when LINE_API_URL is not set (the dev emulator's). */
  lineApiUrl?: string;
  onRetry: (err: SendError, delayMs: number) => void;
  /** A send the platform had already accepted (LINE's 409 for a retry key): a resend after a crash or a lost answer. */
  onAlreadyAccepted?: (channel: string, ctx: SendContext) => void;
  /** What web chat's channel needs (it writes replies to its outboxes in Redis); without it there is no web chat channel. */
  webchat?: { redis: RedisClient; logger: Logger; metrics: Metrics };
}

/** What workers send through (worker role). */
export function buildChannels(loaded: LoadedChannels, config: Config, setup: SendSetup): { channels: Map<string, Channel>; close(): void } {
  const retry = { timeoutMs: config.send.timeoutMs, maxAttempts: config.send.maxAttempts, backoffBaseMs: config.send.backoffBaseMs, backoffMaxMs: config.send.backoffMaxMs, onRetry: setup.onRetry };
  const graph = new GraphClient({ baseUrl: setup.graphApiUrl, ...retry });
  const { messenger: m, instagram, whatsapp, line } = loaded.settings;
  const channels = new Map<string, Channel>([
    ['messenger', new MessengerChannel({ graph, pages: m.pages, ...(m.defaultToken ? { defaultToken: m.defaultToken } : {}) }) as Channel],
    ['whatsapp', new WhatsAppChannel({ graph, numbers: whatsapp.numbers }) as Channel],
  ]);
  if (instagram.accounts.size) channels.set('instagram', new InstagramChannel({ graph, accounts: instagram.accounts }) as Channel);
  const lineApi = line.accounts.size ? new LineApi({ baseUrl: config.lineApiUrl ?? setup.lineApiUrl ?? DEFAULT_LINE_API_URL, ...retry }) : undefined;
  if (lineApi) channels.set('line', new LineChannel({ api: lineApi, accounts: line.accounts, ...(setup.onAlreadyAccepted ? { onAlreadyAccepted: (ctx) => setup.onAlreadyAccepted!('line', ctx) } : {}) }) as Channel);
  const sites = loaded.settings.webchat.sites;
  const wc = setup.webchat;
  if (sites.size && wc) {
    const notifier = new Notifier(sites, wc.logger, (result) => wc.metrics.webchatNotifications.inc({ result }));
    channels.set('webchat', new WebchatChannel({ store: webchatStore(wc.redis, config), notifier, logger: wc.logger, metrics: wc.metrics }) as Channel);
  }
  return {
    channels,
    close: () => {
      graph.close();
      lineApi?.close();
    },
  };
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
