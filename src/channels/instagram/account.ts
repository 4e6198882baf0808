/** An Instagram professional account as CHANNELS_FILE lists it, and dev mode's. */
import type { ChannelEntry } from '../../config-channels';
import type { AccountInbox } from '../accounts';
import type { InstagramAccount } from './channel';

/** Dev mode's Instagram account (no CHANNELS_FILE, no PAGES_FILE, no GRAPH_API_URL): served through the built-in fake. */
export const DEV_INSTAGRAM: InstagramAccount = { id: '17841400000000001', name: 'Dev Instagram account', accessToken: 'dev-instagram-access-token' };

export function checkInstagramEntry(e: ChannelEntry): string[] {
  const problems: string[] = [];
  if (!/^\d{1,32}$/.test(e.id)) problems.push(`${e.where}.id must be the Instagram professional account's numeric id (the webhook's entry.id), not its username`);
  if (typeof e.fields.accessToken !== 'string' || e.fields.accessToken.length < 8) problems.push(`${e.where}.accessToken must be the access token of the Facebook Page linked to the Instagram account (at least 8 characters)`);
  if (e.fields.staffEchoes !== undefined && typeof e.fields.staffEchoes !== 'boolean')
    problems.push(`${e.where}.staffEchoes must be true or false (a message the account sends from the Instagram app or Meta Business Suite hands the conversation to a person)`);
  return problems;
}

/** The inbox settings of an Instagram entry: staff echoes on unless `staffEchoes: false`. */
export const instagramInbox = (e: ChannelEntry | undefined): AccountInbox => ({ staffEchoes: e?.fields.staffEchoes !== false });

export const instagramAccountOf = (e: ChannelEntry): InstagramAccount => ({ id: e.id, accessToken: String(e.fields.accessToken), ...(e.name ? { name: e.name } : {}) });
