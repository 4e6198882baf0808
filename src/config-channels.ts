/**
 * CHANNELS_FILE: every account a deployment serves, one entry each:
 * `{"channels":[{"type":"messenger","id":"<page id>","name":"…","accessToken":"…"}, …]}`.
 * This module checks what every entry shares (a type, an id, an optional name, no entry
 * twice); each adapter checks its own fields (tokens, secrets, origins) when the channels
 * are built (src/channels/registry.ts), reporting every problem of the file at once.
 */
import { jsonSection } from './config-reader';

export interface ChannelEntry {
  readonly type: string;
  readonly id: string;
  readonly name?: string;
  /** The entry as written, for the adapter's own fields. */
  readonly fields: Readonly<Record<string, unknown>>;
  /** `CHANNELS_FILE <path> channels[<i>]`: where problems point. */
  readonly where: string;
}

const TYPE = /^[a-z][a-z0-9_-]{0,31}$/;
const ID = /^[A-Za-z0-9_.@+=-]{1,128}$/;

export function parseChannelsFile(text: string, where: string): { entries?: ChannelEntry[]; problems: string[] } {
  const section = jsonSection(text, where, 'channels');
  if ('problem' in section) return { problems: [section.problem] };
  const list = section.value;
  if (!Array.isArray(list) || list.length === 0) return { problems: [`${where} must be an object with a non-empty "channels" array`] };
  const problems: string[] = [];
  const entries: ChannelEntry[] = [];
  const seen = new Set<string>();
  list.forEach((raw: unknown, i) => {
    const at = `${where} channels[${i}]`;
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
      problems.push(`${at} must be an object`);
      return;
    }
    const e = raw as Record<string, unknown>;
    const type = typeof e.type === 'string' ? e.type : '';
    const id = typeof e.id === 'string' ? e.id : typeof e.id === 'number' ? String(e.id) : '';
    if (!TYPE.test(type)) problems.push(`${at}.type must be a channel type such as "messenger", "instagram", "whatsapp", "line" or "webchat"`);
    if (!ID.test(id)) problems.push(`${at}.id must be the account's id (1-128 letters, digits, _ . @ + = or -)`);
    if (e.name !== undefined && typeof e.name !== 'string') problems.push(`${at}.name must be a string`);
    if (e.handoffWebhookUrl !== undefined && (typeof e.handoffWebhookUrl !== 'string' || !/^https?:\/\/[^\s]+$/.test(e.handoffWebhookUrl)))
      problems.push(`${at}.handoffWebhookUrl must be an http(s) URL (where this account's handoff alerts go)`);
    if (seen.has(`${type}:${id}`)) problems.push(`${at}: ${type} account ${id} is listed twice`);
    seen.add(`${type}:${id}`);
    entries.push({ type, id, ...(typeof e.name === 'string' ? { name: e.name } : {}), fields: e, where: at });
  });
  return problems.length ? { problems } : { entries, problems };
}
