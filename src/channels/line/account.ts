/**
 * A LINE channel as CHANNELS_FILE lists it: `{"type":"line","id":"<bot user id>","name":"…",
 * "channelSecret":"…","accessToken":"…"}`. The id is the bot's user id, which every webhook
 * names as its `destination`: that is how a POST finds the secret its signature is checked with.
 */
import type { ChannelEntry } from '../../config-channels';

export interface LineAccount {
  /** The bot's user id (`U` + 32 hex digits): the `destination` of its webhooks. */
  id: string;
  name?: string;
  channelSecret: string;
  accessToken: string;
}

export const BOT_USER_ID = /^U[0-9a-f]{32}$/;
const CHANNEL_SECRET = /^[0-9a-f]{32}$/;

/** The dev-mode channel (`npm start` without CHANNELS_FILE), served by the built-in LINE emulator. */
export const DEV_LINE_ACCOUNT: LineAccount = {
  id: 'Udeadbeefdeadbeefdeadbeefdeadbeef',
  name: 'Dev LINE channel',
  channelSecret: '0123456789abcdef0123456789abcdef',
  accessToken: 'dev-line-channel-access-token',
};

/** Every problem of one CHANNELS_FILE entry of type `line`. */
export function checkLineEntry(e: ChannelEntry): string[] {
  const problems: string[] = [];
  const f = e.fields;
  if (!BOT_USER_ID.test(e.id)) problems.push(`${e.where}.id must be the bot's user id ("Your user ID" on the channel's Basic settings tab: U followed by 32 hex digits), the "destination" of its webhooks`);
  if (typeof f.channelSecret !== 'string' || !CHANNEL_SECRET.test(f.channelSecret)) problems.push(`${e.where}.channelSecret must be the channel secret (Basic settings tab): 32 hexadecimal characters`);
  if (typeof f.accessToken !== 'string' || f.accessToken.length < 16 || /\s/.test(f.accessToken)) problems.push(`${e.where}.accessToken must be a channel access token (Messaging API tab): at least 16 characters, no spaces`);
  return problems;
}

export function lineAccountOf(e: ChannelEntry): LineAccount {
  return { id: e.id, ...(e.name ? { name: e.name } : {}), channelSecret: String(e.fields.channelSecret), accessToken: String(e.fields.accessToken) };
}
