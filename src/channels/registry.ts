/**
 * The wiring of channel adapters: the one file that knows every platform. From the
 * configuration it builds the account directory, the ingresses (what platforms POST to) and
 * the channels (what workers send through). The core never imports this file; `app.ts` does.
 * Adding a channel: an adapter folder, then its entry here (docs/channels.md).
 */
import type { Config } from '../config';
import { ConfigError, DEFAULT_LINE_API_URL } from '../config';
import type { ChannelEntry } from '../config-channels';
import { AccountDirectory, type Account } from './accounts';
import type { Channel, Ingress } from './channel';
import type { SendError } from './channel';
import { GraphClient } from './meta/graph';
import { MetaIngress, type ObjectParser } from './meta/ingress';
import { MessengerChannel, parseMessengerWebhook, type PageAccount } from './messenger/channel';
import { checkLineEntry, DEV_LINE_ACCOUNT, lineAccountOf, type LineAccount } from './line/account';
import { LineApi } from './line/api';
import { LineChannel } from './line/channel';
import { LineIngress, type LineIngressObserver } from './line/ingress';
import type { SendContext } from './channel';
import type { Logger } from '../log';
import type { Metrics } from '../metrics';
import { checkWhatsAppEntry, WhatsAppChannel, type WhatsAppNumber } from './whatsapp/channel';
import { parseWhatsAppWebhook } from './whatsapp/parse';

/** What each adapter took from the configuration. */
export interface ChannelSettings {
  messenger: { pages: Map<string, PageAccount>; defaultToken?: string };
  /** LINE channels by bot user id (the webhooks' `destination`). */
  line: { accounts: Map<string, LineAccount> };
  /** Phone number id -> number (the dev number in dev mode without CHANNELS_FILE). */
  whatsapp: { numbers: Map<string, WhatsAppNumber> };
}

/** Dev mode without CHANNELS_FILE, PAGES_FILE nor GRAPH_API_URL: one WhatsApp number, served by the built-in fake (src/dev/fake-whatsapp.ts). */
export const DEV_WHATSAPP_NUMBER: WhatsAppNumber = { id: '100000000000001', name: 'Dev WhatsApp number', accessToken: 'dev-whatsapp-access-token' };

export interface LoadedChannels {
  settings: ChannelSettings;
  accounts: AccountDirectory;
}

/** Own fields of one CHANNELS_FILE entry, per channel type: the problems, or nothing. */
const ENTRY_CHECKS: Record<string, (e: ChannelEntry) => string[]> = {
  messenger: (e) => (typeof e.fields.accessToken === 'string' && e.fields.accessToken.length >= 8 ? [] : [`${e.where}.accessToken must be the page's access token (at least 8 characters)`]),
  line: checkLineEntry,
  whatsapp: checkWhatsAppEntry,
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
  const line = new Map(entries.filter((e) => e.type === 'line').map((e) => [e.id, lineAccountOf(e)]));
  const numbers = new Map<string, WhatsAppNumber>();
  for (const e of entries.filter((x) => x.type === 'whatsapp')) numbers.set(e.id, { id: e.id, accessToken: String(e.fields.accessToken), ...(e.name ? { name: e.name } : {}) });
  // Dev mode without CHANNELS_FILE: one dev account of each channel, served by the built-in emulators.
  const dev = !config.production && config.channels === undefined;
  if (dev) line.set(DEV_LINE_ACCOUNT.id, DEV_LINE_ACCOUNT);
  // (WhatsApp's dev number also needs the built-in Graph API emulator, which serves its Cloud API.)
  if (dev && config.fb.pages === undefined && config.fb.graphApiUrl === undefined) numbers.set(DEV_WHATSAPP_NUMBER.id, DEV_WHATSAPP_NUMBER);
  const accounts: Account[] = [
    ...[...pages.values()].map((p) => ({ channel: 'messenger', id: p.id, ...(p.name ? { name: p.name } : {}) })),
    ...entries.filter((e) => e.type !== 'messenger' && e.type !== 'whatsapp').map((e) => ({ channel: e.type, id: e.id, ...(e.name ? { name: e.name } : {}) })),
    ...(dev ? [{ channel: 'line', id: DEV_LINE_ACCOUNT.id, name: DEV_LINE_ACCOUNT.name! }] : []),
    ...[...numbers.values()].map((n) => ({ channel: 'whatsapp', id: n.id, ...(n.name ? { name: n.name } : {}) })),
  ];
  // Neither CHANNELS_FILE nor PAGES_FILE: every page is served (with FB_PAGE_ACCESS_TOKEN), as before channels.
  const open = new Set(config.channels === undefined && config.fb.pages === undefined ? ['messenger'] : []);
  return {
    settings: {
      messenger: { pages, ...(pages.size === 0 && config.fb.defaultPageToken !== undefined ? { defaultToken: config.fb.defaultPageToken } : {}) },
      line: { accounts: line },
      whatsapp: { numbers },
    },
    accounts: new AccountDirectory(accounts, open),
  };
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
  const meta = new Map<string, ObjectParser>([['page', parseMessengerWebhook], ['whatsapp_business_account', parseWhatsAppWebhook]]);
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
    ['whatsapp', new WhatsAppChannel({ graph, numbers: loaded.settings.whatsapp.numbers }) as Channel],
  ]);
  const line = loaded.settings.line.accounts;
  const lineApi = line.size
    ? new LineApi({
      baseUrl: config.lineApiUrl ?? setup.lineApiUrl ?? DEFAULT_LINE_API_URL, timeoutMs: config.send.timeoutMs, maxAttempts: config.send.maxAttempts,
      backoffBaseMs: config.send.backoffBaseMs, backoffMaxMs: config.send.backoffMaxMs, onRetry: setup.onRetry,
    })
    : undefined;
  if (lineApi) channels.set('line', new LineChannel({ api: lineApi, accounts: line, ...(setup.onAlreadyAccepted ? { onAlreadyAccepted: (ctx) => setup.onAlreadyAccepted!('line', ctx) } : {}) }) as Channel);
  return {
    channels,
    close: () => {
      graph.close();
      lineApi?.close();
    },
  };
}
