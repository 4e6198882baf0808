/**
 * Instagram Messaging for tests: webhook fixtures in Instagram's documented wire format
 * (`object: "instagram"`, signed over the exact bytes like Facebook), a pipeline whose Graph API
 * fake serves Instagram accounts, and a load driver for sendLoad/audit. Instagram's echo has no
 * metadata, so the driver tells which message a reply answers by its text (the echo bot quotes
 * the user's text, unique per message of a load).
 */
import fs from 'node:fs';
import path from 'node:path';
import type { ParseResult } from '../../src/channels/event';
import { parseInstagramWebhook } from '../../src/channels/instagram/parse';
import { MetaIngress } from '../../src/channels/meta/ingress';
import { encodeLikeFacebook, sign } from '../../src/channels/meta/signature';
import { parseMessengerWebhook } from '../../src/channels/messenger/channel';
import { conversationKey } from '../../src/channels/conversation';
import { FakeInstagram } from '../../src/dev/fake-instagram';
import type { FakeGraph } from '../../src/dev/fake-graph';
import { APP_SECRET, VERIFY_TOKEN, at } from './fb';
import { tmpDir } from './env';
import { startPipeline, type LoadDriver, type Pipeline } from './pipeline';

/** Instagram professional account ids are numeric; tokens are their linked pages'. */
export const IG_ACCOUNTS = ['17841400000000101', '17841400000000102', '17841400000000103'];
export const igToken = (account: string) => `ig-page-token-${account}`;

type Ev = Record<string, unknown>;

export const igText = (account: string, user: string, ts: number, mid: string, body: string): Ev => ({
  sender: { id: user },
  recipient: { id: account },
  timestamp: at(ts),
  message: { mid, text: body },
});

/** Instagram's echo of a message the account sent: `is_echo`, no metadata, no app id. */
export const igEcho = (account: string, user: string, ts: number, mid: string, body: string): Ev => ({
  sender: { id: account },
  recipient: { id: user },
  timestamp: at(ts),
  message: { mid, text: body, is_echo: true },
});

/** Groups events into entries per Instagram account, as Meta batches them. */
export function igBody(events: Ev[]): Record<string, unknown> {
  const byAccount = new Map<string, Ev[]>();
  for (const e of events) {
    const msg = e.message as { is_echo?: boolean } | undefined;
    const account = String(((msg?.is_echo ? e.sender : e.recipient) as { id: string }).id);
    byAccount.set(account, [...(byAccount.get(account) ?? []), e]);
  }
  return { object: 'instagram', entry: [...byAccount].map(([id, messaging]) => ({ id, time: Date.now(), messaging })) };
}

const ingress = new MetaIngress({
  appSecret: APP_SECRET,
  verifyToken: VERIFY_TOKEN,
  parsers: new Map([
    ['page', parseMessengerWebhook],
    ['instagram', parseInstagramWebhook],
  ]),
});

/** A body through POST /webhook's checks and parsers, signed as Facebook signs it. */
export function parseIg(b: unknown, receivedAt = Date.now()): ParseResult {
  const raw = Buffer.from(encodeLikeFacebook(b));
  const headers: Record<string, string> = { 'x-hub-signature-256': sign(raw, APP_SECRET) };
  return ingress.accept(raw, (name) => headers[name], receivedAt);
}

/** The CHANNELS_FILE of these accounts. */
export function channelsFile(dir: string, accounts: readonly string[] = IG_ACCOUNTS): string {
  const file = path.join(dir, 'channels.json');
  fs.writeFileSync(file, JSON.stringify({ channels: accounts.map((id, i) => ({ type: 'instagram', id, name: `Shop ${i + 1}`, accessToken: igToken(id) })) }));
  return file;
}

/** The Graph API fake serving these Instagram accounts too (their echoes go where Messenger's go). */
export const fakeInstagramOn = (graph: FakeGraph, accounts: readonly string[] = IG_ACCOUNTS) => new FakeInstagram(graph, { accounts: new Map(accounts.map((a) => [igToken(a), a])) });

/** A pipeline (gateway + workers as processes) serving the Instagram accounts and Messenger's test pages. */
export async function startInstagramPipeline(label: string, redisEnv: Record<string, string>, opts: { workers?: number; env?: Record<string, string> } = {}): Promise<Pipeline & { instagram: FakeInstagram }> {
  const dir = tmpDir(label);
  const p = await startPipeline(label, redisEnv, { ...opts, dir, env: { CHANNELS_FILE: channelsFile(dir), ...opts.env } });
  return Object.assign(p, { instagram: fakeInstagramOn(p.graph) });
}

/** Instagram through the fake Graph API: signed `object: "instagram"` POSTs; replies named by the text they quote. */
export function instagramDriver(graph: FakeGraph, accounts: readonly string[] = IG_ACCOUNTS, batch = 10): LoadDriver {
  const byQuote = new Map<string, string>(); // the echo bot's reply text -> the message it answers
  const mine = new Set(accounts);
  return {
    channel: 'instagram',
    accounts,
    posts: (messages) => {
      const out = [];
      for (const m of messages) byQuote.set(`You said: "${m.text}"`, m.id);
      for (let i = 0; i < messages.length; i += batch) {
        const raw = encodeLikeFacebook(igBody(messages.slice(i, i + batch).map((m) => igText(m.account, m.user, m.ts, m.id, m.text))));
        out.push({ path: '/webhook', raw, headers: { 'x-hub-signature-256': sign(raw, APP_SECRET) } });
      }
      return out;
    },
    replies: () => {
      const got = new Map<string, { event: string; index: number }[]>();
      for (const c of graph.calls) {
        if (!mine.has(c.pageId) || c.text === undefined) continue;
        const key = conversationKey({ channel: 'instagram', account: c.pageId, user: c.recipientId });
        got.set(key, [...(got.get(key) ?? []), { event: byQuote.get(c.text) ?? `?${c.text}`, index: 0 }]);
      }
      return got;
    },
    sent: () => graph.messages.filter((c) => mine.has(c.pageId)).length,
  };
}
