/**
 * WhatsApp Cloud API webhooks in their real shape (Meta's "messages" webhook reference:
 * `entry[].changes[].value` with metadata, contacts, messages, statuses), signed over the exact
 * bytes sent as Meta signs them; a load driver and a pipeline with the WhatsApp fake mounted
 * into the Graph API fake.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { ParseResult } from '../../src/channels/event';
import { conversationKey } from '../../src/channels/conversation';
import { MetaIngress } from '../../src/channels/meta/ingress';
import { encodeLikeFacebook, sign } from '../../src/channels/meta/signature';
import { parseWhatsAppWebhook } from '../../src/channels/whatsapp/parse';
import { FakeWhatsApp } from '../../src/dev/fake-whatsapp';
import { APP_SECRET, VERIFY_TOKEN, at, postRaw } from './fb';
import { tmpDir } from './env';
import { startPipeline, type LoadDriver, type Pipeline } from './pipeline';

type Obj = Record<string, unknown>;

/** Phone number ids of the test numbers, and their tokens. */
export const WA_NUMBERS = ['106540352242922', '106540352242923'];
export const waToken = (id: string) => `EAAwa-token-${id}`;
export const WABA_ID = '102290129340398';
/** `sendLoad`'s `userPrefix` for WhatsApp: users are phone numbers (wa_id), digits only. */
export const WA_USER_PREFIX = '49151000';

/** Seconds since the epoch, as WhatsApp writes them: small numbers are offsets from a minute before the suite started (see fb.ts `at`). */
export const secs = (ts: number) => String(Math.floor(at(ts) / 1000));

export const waText = (from: string, id: string, ts: number, body: string): Obj => ({ from, id, timestamp: secs(ts), text: { body }, type: 'text' });

/** A status of one of our messages; `token` is our biz_opaque_callback_data. */
export function waStatus(recipient: string, wamid: string, status: string, ts: number, token?: string, errors?: Obj[]): Obj {
  return {
    id: wamid,
    status,
    timestamp: secs(ts),
    recipient_id: recipient,
    ...(token !== undefined ? { biz_opaque_callback_data: token } : {}),
    ...(errors ? { errors } : status === 'read' ? {} : { conversation: { id: 'CONVERSATION_ID', origin: { type: 'service' } }, pricing: { billable: false, pricing_model: 'PMP', category: 'service' } }),
  };
}

/** One `messages` change of a phone number: its contacts (name by wa_id), messages and statuses. */
export function waChange(phone: string, v: { messages?: Obj[]; statuses?: Obj[]; names?: Record<string, string>; errors?: Obj[] }): Obj {
  return {
    value: {
      messaging_product: 'whatsapp',
      metadata: { display_phone_number: '15550783881', phone_number_id: phone },
      ...(v.names ? { contacts: Object.entries(v.names).map(([wa_id, name]) => ({ profile: { name }, wa_id })) } : {}),
      ...(v.messages ? { messages: v.messages } : {}),
      ...(v.statuses ? { statuses: v.statuses } : {}),
      ...(v.errors ? { errors: v.errors } : {}),
    },
    field: 'messages',
  };
}

export const waBody = (...changes: Obj[]): Obj => ({ object: 'whatsapp_business_account', entry: [{ id: WABA_ID, changes }] });

/** POSTs a body to /webhook signed like Meta (exact bytes, ASCII-escaped). */
export const postWa = (baseUrl: string, body: unknown) => postRaw(baseUrl, encodeLikeFacebook(body));

const ingress = new MetaIngress({ appSecret: APP_SECRET, verifyToken: VERIFY_TOKEN, parsers: new Map([['whatsapp_business_account', parseWhatsAppWebhook]]) });

/** A body through POST /webhook's checks and WhatsApp's parser, signed as Meta signs it. */
export function parseWa(body: unknown, receivedAt = Date.now()): ParseResult {
  const raw = Buffer.from(encodeLikeFacebook(body));
  const headers: Record<string, string> = { 'x-hub-signature-256': sign(raw, APP_SECRET) };
  return ingress.accept(raw, (name) => headers[name], receivedAt);
}

/** WhatsApp through the fake: users' messages batched per POST (one change per number, ids are wamids as WhatsApp's are), replies named by their callback data. */
export function whatsappDriver(wa: FakeWhatsApp, accounts: readonly string[] = WA_NUMBERS, batch = 10): LoadDriver {
  return {
    channel: 'whatsapp',
    accounts,
    posts: (messages) => {
      const out = [];
      for (let i = 0; i < messages.length; i += batch) {
        const byNumber = new Map<string, Obj[]>();
        const names: Record<string, Record<string, string>> = {};
        for (const m of messages.slice(i, i + batch)) {
          byNumber.set(m.account, [...(byNumber.get(m.account) ?? []), { from: m.user, id: `wamid.${m.id}`, timestamp: String(Math.floor(m.ts / 1000)), text: { body: m.text }, type: 'text' }]);
          (names[m.account] ??= {})[m.user] = `User ${m.user}`;
        }
        const raw = encodeLikeFacebook(waBody(...[...byNumber].map(([phone, msgs]) => waChange(phone, { messages: msgs, names: names[phone]! }))));
        out.push({ path: '/webhook', raw, headers: { 'x-hub-signature-256': sign(raw, APP_SECRET) } });
      }
      return out;
    },
    replies: () => {
      const got = new Map<string, { event: string; index: number }[]>();
      for (const m of wa.sent) {
        if (!m.token?.mid) continue;
        const key = conversationKey({ channel: 'whatsapp', account: m.phoneNumberId, user: m.to });
        got.set(key, [...(got.get(key) ?? []), { event: m.token.mid.replace(/^wamid\./, ''), index: m.token.i ?? 0 }]);
      }
      return got;
    },
    sent: () => wa.sent.length,
  };
}

/** CHANNELS_FILE with the test numbers (in `dir`, or a fresh test directory). */
export function waChannelsFile(label: string, numbers: readonly string[] = WA_NUMBERS, dir?: string): string {
  if (dir) fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir ?? tmpDir(`${label}-channels`), 'channels.json');
  fs.writeFileSync(file, JSON.stringify({ channels: numbers.map((id, i) => ({ type: 'whatsapp', id, name: `Shop number ${i + 1}`, accessToken: waToken(id) })) }));
  return file;
}

export const waFake = (o: { read?: boolean } = {}) => new FakeWhatsApp({ numbers: new Map(WA_NUMBERS.map((id) => [id, waToken(id)])), wabaId: WABA_ID, ...o });

/** The pipeline of test/helpers/pipeline.ts (gateway, workers, chatlog) with the test numbers and the WhatsApp fake answering on GRAPH_API_URL. */
export async function startWhatsAppPipeline(label: string, redisEnv: Record<string, string>, opts: Parameters<typeof startPipeline>[2] & { read?: boolean } = {}): Promise<{ p: Pipeline; wa: FakeWhatsApp; driver: LoadDriver }> {
  const wa = waFake({ ...(opts.read ? { read: true } : {}) });
  const p = await startPipeline(label, redisEnv, { ...opts, env: { CHANNELS_FILE: waChannelsFile(label, WA_NUMBERS, opts.dir), ...opts.env } });
  p.graph.mount(wa.router());
  wa.setWebhook({ url: `${p.gateway.url}/webhook`, appSecret: APP_SECRET });
  const stop = p.stop.bind(p);
  p.stop = async () => {
    await stop();
    await wa.close();
  };
  return { p, wa, driver: whatsappDriver(wa) };
}
