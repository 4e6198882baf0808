/**
 * The wiring of channel adapters: the one file that knows every platform. From the
 * configuration it builds the account directory, the ingresses (what platforms POST to) and
 * the channels (what workers send through). The core never imports this file; `app.ts` does.
 * Adding a channel: an adapter folder, then its entry here (docs/channels.md).
 */
import type { Config } from '../config';
import { ConfigError } from '../config';
import type { ChannelEntry } from '../config-channels';
import { AccountDirectory, type Account } from './accounts';
import type { Channel, Ingress } from './channel';
import type { SendError } from './channel';
import { InstagramChannel, type InstagramAccount } from './instagram/channel';
import { parseInstagramWebhook } from './instagram/parse';
import { GraphClient } from './meta/graph';
import { MetaIngress, type ObjectParser } from './meta/ingress';
import { MessengerChannel, parseMessengerWebhook, type PageAccount } from './messenger/channel';

/** What each adapter took from the configuration. */
export interface ChannelSettings {
  messenger: { pages: Map<string, PageAccount>; defaultToken?: string };
  instagram: { accounts: Map<string, InstagramAccount> };
}

/** Dev mode's Instagram account (no CHANNELS_FILE, no PAGES_FILE, no GRAPH_API_URL): served through the built-in fake. */
export const DEV_INSTAGRAM: InstagramAccount = { id: '17841400000000001', name: 'Dev Instagram account', accessToken: 'dev-instagram-access-token' };

function checkInstagram(e: ChannelEntry): string[] {
  const problems: string[] = [];
  if (!/^\d{1,32}$/.test(e.id)) problems.push(`${e.where}.id must be the Instagram professional account's numeric id (the webhook's entry.id), not its username`);
  if (typeof e.fields.accessToken !== 'string' || e.fields.accessToken.length < 8) problems.push(`${e.where}.accessToken must be the access token of the Facebook Page linked to the Instagram account (at least 8 characters)`);
  return problems;
}

export interface LoadedChannels {
  settings: ChannelSettings;
  accounts: AccountDirectory;
}

/** Own fields of one CHANNELS_FILE entry, per channel type: the problems, or nothing. */
const ENTRY_CHECKS: Record<string, (e: ChannelEntry) => string[]> = {
  messenger: (e) => (typeof e.fields.accessToken === 'string' && e.fields.accessToken.length >= 8 ? [] : [`${e.where}.accessToken must be the page's access token (at least 8 characters)`]),
  instagram: checkInstagram,
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
  const instagram = new Map(entries.filter((e) => e.type === 'instagram').map((e) => [e.id, { id: e.id, accessToken: String(e.fields.accessToken), ...(e.name ? { name: e.name } : {}) }]));
  const accounts: Account[] = [
    ...[...pages.values()].map((p) => ({ channel: 'messenger', id: p.id, ...(p.name ? { name: p.name } : {}) })),
    ...entries.filter((e) => e.type !== 'messenger').map((e) => ({ channel: e.type, id: e.id, ...(e.name ? { name: e.name } : {}) })),
  ];
  // Neither CHANNELS_FILE nor PAGES_FILE: every page is served (with FB_PAGE_ACCESS_TOKEN), as before channels.
  const open = new Set(config.channels === undefined && config.fb.pages === undefined ? ['messenger'] : []);
  if (open.size && config.fb.graphApiUrl === undefined && !config.production) {
    // Dev mode: one Instagram account too, served by the built-in Graph API emulator.
    instagram.set(DEV_INSTAGRAM.id, DEV_INSTAGRAM);
    accounts.push({ channel: 'instagram', id: DEV_INSTAGRAM.id, name: DEV_INSTAGRAM.name! });
  }
  return {
    settings: {
      messenger: { pages, ...(pages.size === 0 && config.fb.defaultPageToken !== undefined ? { defaultToken: config.fb.defaultPageToken } : {}) },
      instagram: { accounts: instagram },
    },
    accounts: new AccountDirectory(accounts, open),
  };
}

/** What platforms POST to (gateway role). */
export function buildIngresses(loaded: LoadedChannels, config: Config): Ingress[] {
  const meta = new Map<string, ObjectParser>([['page', parseMessengerWebhook], ['instagram', parseInstagramWebhook]]);
  return [new MetaIngress({ appSecret: config.fb.appSecret, verifyToken: config.fb.verifyToken, parsers: meta })];
}

export interface SendSetup {
  /** Graph API base URL (the dev emulator's when GRAPH_API_URL is not set). */
  graphApiUrl: string;
  onRetry: (err: SendError, delayMs: number) => void;
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
  if (loaded.settings.instagram.accounts.size) channels.set('instagram', new InstagramChannel({ graph, accounts: loaded.settings.instagram.accounts }) as Channel);
  return { channels, close: () => graph.close() };
}
