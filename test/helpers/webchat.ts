/** Web chat test fixtures: sites in a CHANNELS_FILE, widgets in Node, raw sockets, the visible transcript checked. */
import fs from 'node:fs';
import path from 'node:path';
import WebSocket from 'ws';
import { nodeWidget, type ShownEntry, type VisitorOptions, type WidgetClient } from '../../src/dev/fake-webchat';
import { tmpDir } from './env';
import { waitUntil } from './wait';

export const SITE = 'shop';
export const SITE_ORIGIN = 'https://shop.example';
export const IDENTITY_SECRET = 'shop-identity-secret-0123456789';
export const NOTIFY_SECRET = 'shop-notify-secret-0123456789';

/** A CHANNELS_FILE with web chat sites (the first is `shop`, on https://shop.example and http://localhost:*). */
export function channelsFile(label: string, extra: Record<string, unknown>[] = [], shop: Record<string, unknown> = {}): string {
  const file = path.join(tmpDir(label), 'channels.json');
  const channels = [{ type: 'webchat', id: SITE, name: 'Shop', origins: [SITE_ORIGIN, 'http://localhost:*'], identitySecret: IDENTITY_SECRET, ...shop }, ...extra];
  fs.writeFileSync(file, JSON.stringify({ channels }));
  return file;
}

/** A widget of the shop in Node, talking to `baseUrl` as a page of the shop would. */
export function widget(baseUrl: string, o: Partial<VisitorOptions> = {}): WidgetClient & { tokens: Map<string, string> } {
  const w = nodeWidget({ baseUrl, site: SITE, origin: SITE_ORIGIN, ...o });
  w.connect();
  return w;
}

export const online = (w: WidgetClient, what = 'the widget online') => waitUntil(what, () => w.status === 'online', 15_000);

/** A raw socket (for protocol tests): resolves once open, with every frame it receives. */
export async function rawSocket(
  baseUrl: string,
  opts: { site?: string; origin?: string; path?: string } = {},
): Promise<{ ws: WebSocket; frames: any[]; closed: Promise<{ code: number; reason: string }>; send(f: unknown): void; next(t: string): Promise<any> }> {
  const url = `${baseUrl.replace(/^http/, 'ws')}${opts.path ?? `/webchat/ws?account=${opts.site ?? SITE}`}`;
  const ws = new WebSocket(url, { origin: opts.origin ?? SITE_ORIGIN });
  const frames: any[] = [];
  ws.on('message', (d) => frames.push(JSON.parse(d.toString())));
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
    ws.once('unexpected-response', (_req, res) => reject(Object.assign(new Error(`HTTP ${res.statusCode}`), { status: res.statusCode })));
  });
  const next = (t: string) => waitUntil(`a ${t} frame`, () => frames.find((f) => f.t === t), 10_000);
  return { ws, frames, closed, send: (f) => ws.send(typeof f === 'string' ? f : JSON.stringify(f)), next };
}

/** The upgrade's HTTP answer when the gateway refuses a socket. */
export function refusedWith(baseUrl: string, query: string, origin: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${baseUrl.replace(/^http/, 'ws')}/webchat/ws${query}`, { origin });
    ws.once('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      res.resume();
    });
    ws.once('open', () => {
      ws.close();
      reject(new Error('the socket was accepted'));
    });
    ws.once('error', () => undefined);
  });
}

/** What a visitor sees, audited: each of their messages once and in the order sent, each reply once, after its message, in order. */
export function auditShown(entries: readonly ShownEntry[], sent: readonly string[], repliesPerMessage = 1): { lost: number; duplicates: number; outOfOrder: number; problems: string[] } {
  const problems: string[] = [];
  const mine = entries.filter((x) => x.e.f === 'visitor').map((x) => x.e.cid!);
  const replies = entries.filter((x) => x.e.f !== 'visitor' && x.e.re).map((x) => `${x.e.re}#${x.e.n}`);
  const duplicates = mine.length - new Set(mine).size + replies.length - new Set(replies).size;
  const expectedReplies = sent.flatMap((cid) => Array.from({ length: repliesPerMessage }, (_, i) => `${cid}#${i}`));
  const lost = sent.filter((c) => !mine.includes(c)).length + expectedReplies.filter((r) => !replies.includes(r)).length;
  let outOfOrder = 0;
  if (mine.filter((c) => sent.includes(c)).join() !== sent.filter((c) => mine.includes(c)).join()) {
    outOfOrder++;
    problems.push(`messages shown ${mine.join(' ')}, sent ${sent.join(' ')}`);
  }
  if (replies.join() !== expectedReplies.filter((r) => replies.includes(r)).join()) {
    outOfOrder++;
    problems.push(`replies shown in the order ${replies.join(' ')}`);
  }
  // A reply comes after the message it answers.
  entries.forEach((x, i) => {
    if (x.e.f === 'visitor' || !x.e.re) return;
    const at = entries.findIndex((y) => y.e.f === 'visitor' && y.e.cid === x.e.re);
    if (at < 0 || at > i) {
      outOfOrder++;
      problems.push(`reply ${x.e.re}#${x.e.n} shown before its message`);
    }
  });
  // Entries in the transcript's order (ids increase): nothing shown out of place.
  for (let i = 1; i < entries.length; i++) if (!(cmp(entries[i - 1]!.id, entries[i]!.id) < 0)) problems.push(`entry ${entries[i]!.id} after ${entries[i - 1]!.id}`);
  return { lost, duplicates, outOfOrder: outOfOrder + (problems.some((p) => p.startsWith('entry')) ? 1 : 0), problems: problems.slice(0, 5) };
}

function cmp(a: string, b: string): number {
  const [am, as] = a.split('-').map(Number);
  const [bm, bs] = b.split('-').map(Number);
  return am! - bm! || as! - bs!;
}
