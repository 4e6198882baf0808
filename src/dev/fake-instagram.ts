/**
 * Instagram Messaging in the Graph API fake (dev mode, tests, bench): an Instagram account
 * sends on the same `POST /{version}/me/messages` as Messenger, with its linked page's token
 * (here: a token of its own, as the fake tells accounts apart by token), so this is a flavor
 * of FakeGraph's Send API rather than a product of its own. It follows Meta's pages:
 * - send: https://developers.facebook.com/docs/messenger-platform/instagram/features/send-message
 *   (text of at most 1,000 UTF-8 bytes; image, video, audio; `file` for PDF documents per
 *   https://developers.facebook.com/documentation/business-messaging/instagram-messaging/features/attachment-upload),
 *   quick replies (…/instagram-api-with-instagram-login/messaging-api/quick-replies: at most 13,
 *   plain text, longer titles truncated), the button template
 *   (…/instagram-messaging/button-template: 1-3 buttons, text of at most 640 characters);
 * - echo: https://developers.facebook.com/docs/instagram-platform/webhooks/examples — the
 *   `messages` field with `is_echo`, `object: "instagram"`, sender = the account, recipient =
 *   the IGSID, `message` with `mid`, `text`, `attachments` (media at Meta's CDN URL) and nothing
 *   else: no `metadata`, no `app_id`. How a template is echoed is not documented for Instagram;
 *   the fake echoes it as Messenger does (a `template` attachment with its payload).
 * Errors are the Graph API's `{"error":{…}}` bodies (code 100, 2018047 for a refused attachment).
 * For the emulator: `sendAsUser` posts a signed webhook as Instagram would, `sentTo` lists what
 * the bot sent a user.
 */
import crypto from 'node:crypto';
import { encodeLikeFacebook, sign } from '../channels/meta/signature';
import type { FakeGraph, FakeGraphOptions, RecordedCall, SendFlavor } from './fake-graph';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

const MEDIA = new Set(['image', 'video', 'audio', 'file']);
const QUICK_TYPES = new Set(['text', 'user_email', 'user_phone_number']);

export interface FakeInstagramOptions {
  /** access token -> Instagram account id. */
  accounts: ReadonlyMap<string, string>;
  /** Where echoes and `sendAsUser` webhooks go (default: the FakeGraph's echo target). */
  webhook?: FakeGraphOptions['echo'];
}

/** Meta's refusal of a message Instagram does not take, or undefined. */
export function refuseInstagram(body: Obj): { message: string; subcode?: number } | undefined {
  const m = isObj(body.message) ? body.message : undefined;
  if (!m) return undefined;
  if (body.messaging_type === 'MESSAGE_TAG' && body.tag !== 'HUMAN_AGENT') return { message: '(#100) Instagram messages take the HUMAN_AGENT tag only' };
  if (typeof m.text === 'string' && Buffer.byteLength(m.text) > 1_000) return { message: '(#100) Length of param message[text] must be less than or equal to 1000' };
  if (m.quick_replies !== undefined) {
    const qr = m.quick_replies;
    if (!Array.isArray(qr) || qr.length === 0 || qr.length > 13) return { message: '(#100) param message[quick_replies] must be an array of 1 to 13 quick replies' };
    if (qr.some((q) => !isObj(q) || !QUICK_TYPES.has(String(q.content_type)))) return { message: '(#100) Instagram quick replies support content_type text only' };
  }
  const a = isObj(m.attachment) ? m.attachment : undefined;
  if (!a) return undefined;
  const p = isObj(a.payload) ? a.payload : {};
  if (MEDIA.has(String(a.type))) {
    if (typeof p.url !== 'string' && typeof p.attachment_id !== 'string') return { message: '(#100) param message[attachment][payload][url] is required' };
    if (a.type === 'file' && typeof p.url === 'string' && !new URL(p.url, 'https://x').pathname.toLowerCase().endsWith('.pdf')) return { message: '(#100) Upload attachment failure.', subcode: 2_018_047 };
    return undefined;
  }
  if (a.type === 'template' && p.template_type === 'button') {
    if (typeof p.text !== 'string' || p.text.length === 0 || p.text.length > 640) return { message: '(#100) param message[attachment][payload][text] must be 1 to 640 characters' };
    if (!Array.isArray(p.buttons) || p.buttons.length < 1 || p.buttons.length > 3) return { message: '(#100) param message[attachment][payload][buttons] must be an array of 1 to 3 buttons' };
    return undefined;
  }
  if (a.type === 'template' && p.template_type === 'generic') return Array.isArray(p.elements) && p.elements.length >= 1 && p.elements.length <= 10 ? undefined : { message: '(#100) param elements must be an array of 1 to 10 elements' };
  if (a.type === 'like_heart' || a.type === 'MEDIA_SHARE') return undefined;
  return { message: `(#100) Unsupported attachment type for Instagram: ${String(a.type)}` };
}

/** What Instagram's echo says of a sent `message`: its text, its attachments (media at Meta's CDN, not our URL). */
function echoed(mid: string, message: Obj): Obj {
  const a = isObj(message.attachment) ? message.attachment : undefined;
  const cdn = `https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=${crypto.createHash('sha1').update(mid).digest('hex').slice(0, 16)}`;
  const attachments = !a ? undefined : a.type === 'template' ? [{ type: 'template', payload: a.payload }] : [{ type: String(a.type).toLowerCase(), payload: { url: cdn } }];
  return { mid, ...(typeof message.text === 'string' ? { text: message.text } : {}), ...(attachments ? { attachments } : {}), is_echo: true };
}

export class FakeInstagram implements SendFlavor {
  webhook?: FakeGraphOptions['echo'];
  private readonly accounts: ReadonlyMap<string, string>;

  constructor(
    private readonly graph: FakeGraph,
    o: FakeInstagramOptions,
  ) {
    this.accounts = o.accounts;
    if (o.webhook) this.webhook = o.webhook;
    graph.useFlavor(this);
  }

  accountOf(token: string): string | undefined {
    return this.accounts.get(token);
  }

  refuse(body: Obj): { message: string; subcode?: number } | undefined {
    return refuseInstagram(body);
  }

  echo(account: string, user: string, mid: string, message: Obj, now: number): unknown {
    return { object: 'instagram', entry: [{ id: account, time: now, messaging: [{ sender: { id: account }, recipient: { id: user }, timestamp: now, message: echoed(mid, message) }] }] };
  }

  /** Where webhooks go (known once the gateway listens). */
  setWebhook(webhook: FakeInstagramOptions['webhook']): void {
    this.webhook = webhook;
  }

  /**
   * A user's message as Instagram delivers it: a signed `object: "instagram"` POST to the
   * webhook. `event` is the messaging event's own part (default: a text message).
   */
  async sendAsUser(account: string, user: string, text: string, event?: Obj): Promise<{ mid: string; status: number }> {
    const target = this.webhook;
    if (!target) throw new Error('FakeInstagram has no webhook to post to: setWebhook() first');
    const now = Date.now();
    const mid = `aWdfZAG1f${crypto.randomBytes(18).toString('base64url')}`;
    const raw = encodeLikeFacebook({ object: 'instagram', entry: [{ id: account, time: now, messaging: [{ sender: { id: user }, recipient: { id: account }, timestamp: now, ...(event ?? { message: { mid, text } }) }] }] });
    const res = await fetch(target.webhookUrl, { method: 'POST', body: raw, headers: { 'content-type': 'application/json', 'x-hub-signature-256': sign(raw, target.appSecret) } });
    await res.arrayBuffer();
    return { mid, status: res.status };
  }

  /**
   * The account's people write to a user from elsewhere (the Instagram app, Meta Business
   * Suite): Instagram posts our app the echo, shaped like the echo of our own sends (no
   * metadata, no app id: nothing tells them apart but the content).
   */
  async staffSends(account: string, user: string, text: string): Promise<number> {
    const target = this.webhook;
    if (!target) throw new Error('FakeInstagram has no webhook to post to: setWebhook() first');
    const mid = `aWdfZAG1f${crypto.randomBytes(18).toString('base64url')}`;
    const raw = encodeLikeFacebook(this.echo(account, user, mid, { text }, Date.now()));
    const res = await fetch(target.webhookUrl, { method: 'POST', body: raw, headers: { 'content-type': 'application/json', 'x-hub-signature-256': sign(raw, target.appSecret) } });
    await res.arrayBuffer();
    return res.status;
  }

  /** What the bot sent a user of one of these accounts (messages, not sender actions), oldest first. */
  sentTo(user: string): RecordedCall[] {
    const mine = new Set(this.accounts.values());
    return this.graph.calls.filter((c) => mine.has(c.pageId) && c.recipientId === user && c.body.message !== undefined);
  }
}
