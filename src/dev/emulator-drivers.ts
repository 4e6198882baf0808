/**
 * What the emulator page needs of each platform's fake: "this user says this" (a webhook built
 * and signed exactly as the platform would) and "what did the bot send this user", in one
 * shape whatever the platform. A user is named on the page (`alice`); each driver maps the
 * name to an id of its platform's form (WhatsApp numbers, LINE `U…` ids) the same way every time.
 */
import crypto from 'node:crypto';
import type { FakeGraph, RecordedCall } from './fake-graph';
import type { FakeInstagram } from './fake-instagram';
import type { FakeLine } from './fake-line';
import type { FakeWhatsApp } from './fake-whatsapp';

/** A tap or a typed message. */
export interface EmuInput {
  text?: string;
  /** A quick reply's or a button's payload; with `postback`, a button tap. */
  payload?: string;
  title?: string;
  postback?: boolean;
}

/** One thing the bot did, the same for every platform. */
export interface EmuItem {
  text?: string;
  quickReplies?: { title: string; payload: string }[];
  buttons?: { title: string; payload?: string; url?: string }[];
  image?: string;
  action?: 'typing';
  /** Sent by a person (an agent), not the bot. */
  agent?: boolean;
}

export interface EmuDriver {
  channel: string;
  account: string;
  send(user: string, input: EmuInput): Promise<{ status: number }>;
  replies(user: string): EmuItem[];
}

const hash = (s: string) => crypto.createHash('sha256').update(s).digest('hex');

type Msg = {
  text?: string;
  quick_replies?: { content_type?: string; title?: string; payload?: string }[];
  attachment?: { type?: string; payload?: { url?: string; text?: string; buttons?: { type?: string; title?: string; payload?: string; url?: string }[] } };
};

/** A Send API call (Messenger, Instagram) as the page shows it. */
function fromGraphCall(c: RecordedCall): EmuItem | undefined {
  if (c.body.sender_action === 'typing_on') return { action: 'typing' };
  const m = c.body.message as Msg | undefined;
  if (!m) return undefined;
  const att = m.attachment;
  const buttons = att?.payload?.buttons?.map((b) => ({ title: b.title ?? '', ...(b.payload ? { payload: b.payload } : {}), ...(b.url ? { url: b.url } : {}) }));
  return {
    ...(m.text !== undefined ? { text: m.text } : att?.payload?.text ? { text: att.payload.text } : {}),
    ...(att?.type === 'image' && att.payload?.url ? { image: att.payload.url } : {}),
    ...(buttons?.length ? { buttons } : {}),
    ...(m.quick_replies?.length ? { quickReplies: m.quick_replies.filter((q) => q.content_type === 'text').map((q) => ({ title: q.title ?? '', payload: q.payload ?? '' })) } : {}),
    ...(c.body.tag === 'HUMAN_AGENT' ? { agent: true } : {}),
  };
}

export function messengerDriver(graph: FakeGraph, page: string, sign: (user: string, input: EmuInput) => Promise<{ status: number }>, excluded: () => ReadonlySet<string>): EmuDriver {
  return {
    channel: 'messenger',
    account: page,
    send: sign,
    replies: (user) =>
      graph.calls
        .filter((c) => c.recipientId === user && !excluded().has(c.pageId))
        .map(fromGraphCall)
        .filter((x): x is EmuItem => x !== undefined),
  };
}

export function instagramDriver(ig: FakeInstagram, graph: FakeGraph, account: string): EmuDriver {
  return {
    channel: 'instagram',
    account,
    send: (user, i) => {
      const mid = `aWdfZAG1f${crypto.randomBytes(12).toString('base64url')}`;
      const event = i.postback ? { postback: { mid, title: i.title ?? i.payload, payload: i.payload } } : { message: { mid, text: i.text ?? '', ...(i.payload ? { quick_reply: { payload: i.payload } } : {}) } };
      return ig.sendAsUser(account, user, i.text ?? '', event);
    },
    replies: (user) =>
      graph.calls
        .filter((c) => c.recipientId === user && c.pageId === account)
        .map(fromGraphCall)
        .filter((x): x is EmuItem => x !== undefined),
  };
}

/** A WhatsApp number for a page name: digits, stable. */
const waUser = (name: string) => `4915${String(BigInt(`0x${hash(name).slice(0, 12)}`) % 10n ** 8n).padStart(8, '0')}`;

export function whatsappDriver(wa: FakeWhatsApp, phoneNumberId: string): EmuDriver {
  return {
    channel: 'whatsapp',
    account: phoneNumberId,
    send: (name, i) => wa.sendUserMessage({ phoneNumberId, user: waUser(name), name: name[0]!.toUpperCase() + name.slice(1), ...(i.payload ? { reply: { id: i.payload, title: i.title ?? i.text ?? i.payload } } : { text: i.text ?? '' }) }),
    replies: (name) =>
      wa.messagesTo(waUser(name), phoneNumberId).map((m): EmuItem => {
        const b = m.body as {
          interactive?: { type: string; action?: { buttons?: { reply: { id: string; title: string } }[]; sections?: { rows: { id: string; title: string }[] }[]; parameters?: { display_text: string; url: string } } };
          image?: { link?: string };
        };
        const a = b.interactive?.action;
        const options = [...(a?.buttons?.map((x) => x.reply) ?? []), ...(a?.sections?.flatMap((s) => s.rows) ?? [])].map((o) => ({ title: o.title, payload: o.id }));
        return {
          ...(m.text !== undefined ? { text: m.text } : {}),
          ...(options.length ? { quickReplies: options } : {}),
          ...(a?.parameters ? { buttons: [{ title: a.parameters.display_text, url: a.parameters.url }] } : {}),
          ...(b.image?.link ? { image: b.image.link } : {}),
        };
      }),
  };
}

/** A LINE user id for a page name: `U` and 32 hex digits, stable. */
const lineUser = (name: string) => `U${hash(`emulator:${name}`).slice(0, 32)}`;

type LineMsg = {
  type: string;
  text?: string;
  originalContentUrl?: string;
  quickReply?: { items: { action: { type: string; label?: string; data?: string } }[] };
  template?: { text?: string; actions?: { type: string; label?: string; data?: string; uri?: string }[] };
};

export function lineDriver(line: FakeLine, account: string): EmuDriver {
  return {
    channel: 'line',
    account,
    send: (name, i) => line.sendUserMessage({ account, user: lineUser(name), ...(i.payload ? { postback: i.payload } : { text: i.text ?? '' }), attempts: 1 }),
    replies: (name) =>
      line
        .pushesTo(lineUser(name))
        .filter((p) => p.account === account)
        .flatMap((p) =>
          p.messages.map((raw): EmuItem => {
            const m = raw as unknown as LineMsg;
            const quick = m.quickReply?.items.map((q) => ({ title: q.action.label ?? '', payload: q.action.data ?? q.action.label ?? '' }));
            const buttons = m.template?.actions?.map((a) => ({ title: a.label ?? '', ...(a.data ? { payload: a.data } : {}), ...(a.uri ? { url: a.uri } : {}) }));
            return {
              ...(m.text !== undefined ? { text: m.text } : m.template?.text !== undefined ? { text: m.template.text } : {}),
              ...(m.originalContentUrl ? { image: m.originalContentUrl } : {}),
              ...(quick?.length ? { quickReplies: quick } : {}),
              ...(buttons?.length ? { buttons } : {}),
            };
          }),
        ),
  };
}
