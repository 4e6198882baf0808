/**
 * LINE fixtures in the Messaging API's documented webhook shape, signed over the exact bytes
 * sent as LINE signs them, the LINE fake's channels, and a load driver for the pipeline tests.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { LineAccount } from '../../src/channels/line/account';
import { lineRetryKey } from '../../src/channels/line/retry-key';
import { signLine } from '../../src/channels/line/signature';
import { conversationKey } from '../../src/channels/conversation';
import type { FakeLine } from '../../src/dev/fake-line';
import { redelivered, textEvent, type LineEvent } from '../../src/dev/fake-line-webhook';
import type { LoadDriver, LoadMessage } from './pipeline';

const hex = (s: string, n = 32) => crypto.createHash('sha256').update(s).digest('hex').slice(0, n);

/** A LINE user id (`U` + 32 hex digits) for a test's user name. */
export const lineUser = (name: string) => `U${hex(`user:${name}`)}`;

export const LINE_CHANNELS: LineAccount[] = ['shop', 'clinic'].map((n) => ({ id: `U${hex(`bot:${n}`)}`, name: `LINE ${n}`, channelSecret: hex(`secret:${n}`), accessToken: `line-token-${n}-0123456789` }));
export const LINE_BOT = LINE_CHANNELS[0]!.id;
export const LINE_SECRET = LINE_CHANNELS[0]!.channelSecret;

/** CHANNELS_FILE with the test LINE channels. */
export function lineChannelsFile(dir: string, channels: readonly LineAccount[] = LINE_CHANNELS): string {
  const file = path.join(dir, 'channels.json');
  fs.writeFileSync(file, JSON.stringify({ channels: channels.map((c) => ({ type: 'line', ...c })) }));
  return file;
}

/** Fixture times: small numbers are offsets from a minute before the suite started. */
const T0 = Date.now() - 60_000;
const at = (ts: number) => (ts < 1e12 ? T0 + ts : ts);

const common = (type: string, user: string, ts: number, id: string, extra: Record<string, unknown> = {}, source?: Record<string, unknown>) => ({
  type,
  ...extra,
  webhookEventId: id,
  deliveryContext: { isRedelivery: false },
  timestamp: at(ts),
  source: source ?? { type: 'user', userId: user },
  mode: 'active',
});
const replyToken = () => crypto.randomBytes(16).toString('hex');

/** One fixture per webhook event type, shaped like the reference's examples. */
export const fixtures = {
  text: (user: string, ts: number, id: string, text: string) =>
    common('message', user, ts, id, { replyToken: replyToken(), message: { id: `4445738440835${hex(id, 5).replace(/[a-f]/g, '7')}`, type: 'text', quoteToken: 'q3Plxr4AgKd...', markAsReadToken: '30yhdy232...', text } }),
  image: (user: string, ts: number, id: string) =>
    common('message', user, ts, id, {
      replyToken: replyToken(),
      message: { id: '354718705033693859', type: 'image', quoteToken: 'q3Plxr4AgKd...', contentProvider: { type: 'line' }, imageSet: { id: 'E005D41A7288F41B65593ED38FF6E9834B046AB36A37921A56BC236F13A91855', index: 1, total: 2 } },
    }),
  externalVideo: (user: string, ts: number, id: string) =>
    common('message', user, ts, id, {
      replyToken: replyToken(),
      message: {
        id: '325708',
        type: 'video',
        quoteToken: 'q3Plxr4AgKd...',
        duration: 60000,
        contentProvider: { type: 'external', originalContentUrl: 'https://example.com/original.mp4', previewImageUrl: 'https://example.com/preview.jpg' },
      },
    }),
  audio: (user: string, ts: number, id: string) => common('message', user, ts, id, { replyToken: replyToken(), message: { id: '325709', type: 'audio', duration: 60000, contentProvider: { type: 'line' } } }),
  file: (user: string, ts: number, id: string) => common('message', user, ts, id, { replyToken: replyToken(), message: { id: '325710', type: 'file', fileName: 'file.txt', fileSize: 2138 } }),
  location: (user: string, ts: number, id: string) =>
    common('message', user, ts, id, { replyToken: replyToken(), message: { id: '325711', type: 'location', title: 'my location', address: '1-3 Kioicho, Chiyoda-ku, Tokyo, 102-8282, Japan', latitude: 35.67966, longitude: 139.73669 } }),
  sticker: (user: string, ts: number, id: string) =>
    common('message', user, ts, id, { replyToken: replyToken(), message: { id: '325712', type: 'sticker', packageId: '1', stickerId: '1', stickerResourceType: 'STATIC', keywords: ['Brown', 'Hello'], quoteToken: 'q3Plxr4AgKd...' } }),
  postback: (user: string, ts: number, id: string, data: string, params?: Record<string, string>) => common('postback', user, ts, id, { replyToken: replyToken(), postback: { data, ...(params ? { params } : {}) } }),
  follow: (user: string, ts: number, id: string, unblocked = false) => common('follow', user, ts, id, { replyToken: replyToken(), follow: { isUnblocked: unblocked } }),
  unfollow: (user: string, ts: number, id: string) => common('unfollow', user, ts, id),
  unsend: (user: string, ts: number, id: string, messageId: string) => common('unsend', user, ts, id, { unsend: { messageId } }),
  videoPlayComplete: (user: string, ts: number, id: string) => common('videoPlayComplete', user, ts, id, { replyToken: replyToken(), videoPlayComplete: { trackingId: 'track-id' } }),
  beacon: (user: string, ts: number, id: string) => common('beacon', user, ts, id, { replyToken: replyToken(), beacon: { hwid: 'd41d8cd98f', type: 'enter' } }),
  accountLink: (user: string, ts: number, id: string) => common('accountLink', user, ts, id, { replyToken: replyToken(), link: { result: 'ok', nonce: 'xxxxxxxxxxxxxxx' } }),
  membership: (user: string, ts: number, id: string) => common('membership', user, ts, id, { replyToken: replyToken(), membership: { type: 'joined', membershipId: 3189 } }),
  join: (group: string, ts: number, id: string) => common('join', '', ts, id, { replyToken: replyToken() }, { type: 'group', groupId: group }),
  leave: (group: string, ts: number, id: string) => common('leave', '', ts, id, {}, { type: 'group', groupId: group }),
  memberJoined: (group: string, user: string, ts: number, id: string) => common('memberJoined', '', ts, id, { replyToken: replyToken(), joined: { members: [{ type: 'user', userId: user }] } }, { type: 'group', groupId: group }),
  groupText: (group: string, user: string, ts: number, id: string, text: string) =>
    common('message', user, ts, id, { replyToken: replyToken(), message: { id: '325713', type: 'text', quoteToken: 'q3Plxr4AgKd...', text } }, { type: 'group', groupId: group, userId: user }),
  roomText: (room: string, user: string, ts: number, id: string, text: string) =>
    common('message', user, ts, id, { replyToken: replyToken(), message: { id: '325714', type: 'text', quoteToken: 'q3Plxr4AgKd...', text } }, { type: 'room', roomId: room, userId: user }),
};

/** The body LINE POSTs, serialised as LINE sends it (compact JSON, UTF-8 as is). */
export const lineBody = (events: unknown[], destination = LINE_BOT) => JSON.stringify({ destination, events });

/** POSTs to /webhook/line, signed over the exact bytes with the channel's secret unless told otherwise. */
export async function postLine(baseUrl: string, raw: string | Buffer, o: { secret?: string; signature?: string; headers?: Record<string, string> } = {}): Promise<{ status: number; body: any }> {
  const signature = o.signature ?? signLine(raw, o.secret ?? LINE_SECRET);
  const res = await fetch(`${baseUrl}/webhook/line`, { method: 'POST', body: raw, headers: { 'content-type': 'application/json; charset=utf-8', 'x-line-signature': signature, ...o.headers } });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  return { status: res.status, body };
}

/**
 * One webhook POST as LINE delivers it: the first delivery as built, every later one (a
 * redelivery, or a retry after a non-2xx answer) with `isRedelivery: true`, signed anew —
 * `sendLoad` reads `raw` then `headers` once per delivery.
 */
class LineDelivery {
  readonly path = '/webhook/line';
  private deliveries = 0;
  private current = '';
  constructor(
    private readonly destination: string,
    private readonly events: LineEvent[],
    private readonly secret: string,
    private readonly onFirst?: (ids: string[], at: number) => void,
  ) {}
  get raw(): string {
    if (this.deliveries === 0)
      this.onFirst?.(
        this.events.map((e) => String(e.webhookEventId)),
        Date.now(),
      );
    this.current = lineBody(this.deliveries++ === 0 ? this.events : redelivered(this.events), this.destination);
    return this.current;
  }
  get headers(): Record<string, string> {
    return { 'content-type': 'application/json; charset=utf-8', 'x-line-signature': signLine(this.current, this.secret) };
  }
}

/**
 * LINE through its fake: load users become LINE user ids, each POST carries one channel's
 * events (LINE sends one channel's events to its webhook), and the audit reads what the fake
 * accepted, naming each push by its retry key (a 409 is not a second message).
 */
export function lineDriver(fake: FakeLine, channels: readonly LineAccount[] = LINE_CHANNELS, batch = 10, onFirstSend?: (ids: string[], at: number) => void): LoadDriver {
  const byKey = new Map<string, { conversation: string; event: string; index: number }>();
  const loadUser = new Map<string, string>();
  return {
    channel: 'line',
    accounts: channels.map((c) => c.id),
    posts: (messages: LoadMessage[]) => {
      const out = [];
      for (const c of channels) {
        const mine = messages.filter((m) => m.account === c.id);
        for (let i = 0; i < mine.length; i += batch) {
          const events = mine.slice(i, i + batch).map((m) => {
            const user = lineUser(m.user);
            loadUser.set(user, m.user);
            // The replies a message can get (the echo bot sends one push; room for more).
            for (let k = 0; k < 4; k++) byKey.set(lineRetryKey(c.id, `${m.id}#${k}`), { conversation: conversationKey({ channel: 'line', account: c.id, user: m.user }), event: m.id, index: k });
            return textEvent(user, m.text, { webhookEventId: m.id, timestamp: m.ts });
          });
          out.push(new LineDelivery(c.id, events, c.channelSecret, onFirstSend));
        }
      }
      return out;
    },
    replies: () => {
      const got = new Map<string, { event: string; index: number }[]>();
      for (const p of fake.pushes) {
        const named = p.retryKey ? byKey.get(p.retryKey) : undefined;
        const key = named?.conversation ?? `line:${p.account}:${loadUser.get(p.to) ?? p.to}`;
        got.set(key, [...(got.get(key) ?? []), named ? { event: named.event, index: named.index } : { event: `unkeyed:${p.requestId}`, index: 0 }]);
      }
      return got;
    },
    sent: () => fake.pushes.length,
  };
}
