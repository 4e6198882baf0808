/**
 * Web chat under load: gateways and workers as processes behind a TCP balancer, and many
 * widgets (the widget's own client, in Node) chatting through it, each sending its next
 * message once the previous one was acknowledged. The audit reads what each widget would
 * display, with the pipeline's shared `audit` for the replies.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { LoadDriver } from './pipeline';
import { nodeWidget, type WidgetClient } from '../../src/dev/fake-webchat';
import { conversationKey } from '../../src/channels/conversation';
import { tmpDir, uniquePrefix } from './env';
import { startRole, type RoleProcess } from './procs';
import { TcpProxy } from './tcp-proxy';
import { SITE, SITE_ORIGIN } from './webchat';
import { waitUntil } from './wait';

export interface WebchatPipeline {
  /** The balancer's URL: what widgets connect to. */
  url: string;
  proxy: TcpProxy;
  gateways: RoleProcess[];
  workers: RoleProcess[];
  prefix: string;
  stop(): Promise<void>;
}

export async function startWebchatPipeline(
  label: string,
  redisEnv: Record<string, string>,
  o: { gateways?: number; workers?: number; strategy?: 'first' | 'round-robin'; env?: Record<string, string>; dir?: string } = {},
): Promise<WebchatPipeline> {
  const dir = o.dir ?? tmpDir(label);
  const channels = path.join(dir, 'channels.json');
  fs.writeFileSync(channels, JSON.stringify({ channels: [{ type: 'webchat', id: SITE, name: 'Shop', origins: [SITE_ORIGIN, 'http://localhost:*'] }] }));
  const prefix = uniquePrefix(label);
  const env = {
    NODE_ENV: 'test',
    BOT: 'echo',
    CHANNELS_FILE: channels,
    REDIS_PREFIX: prefix,
    LOCK_TTL_MS: '2000',
    WORKER_POLL_MS: '5',
    SWEEP_INTERVAL_MS: '5000',
    SEND_RETRY_LATER_MS: '300',
    ...redisEnv,
    ...o.env,
  };
  const [gateways, workers] = await Promise.all([
    Promise.all(Array.from({ length: o.gateways ?? 2 }, (_, i) => startRole(`${label}-gateway${i + 1}`, { ...env, ROLE: 'gateway' }).ready())),
    Promise.all(Array.from({ length: o.workers ?? 2 }, (_, i) => startRole(`${label}-worker${i + 1}`, { ...env, ROLE: 'worker' }).ready())),
  ]);
  const proxy = new TcpProxy(
    gateways.map((g) => g.port!),
    o.strategy,
  );
  const url = await proxy.listen();
  return {
    url,
    proxy,
    gateways,
    workers,
    prefix,
    async stop() {
      stopWidgets();
      await proxy.close();
      await Promise.all([...gateways, ...workers].map((p) => p.stop()));
    },
  };
}

export interface Chatter {
  widget: WidgetClient;
  /** The client ids of the messages it sent, in order. */
  sent: string[];
}

/** Widgets that can be awaited until a condition on them holds (woken by their changes, not by polling). */
/** Every widget the helpers made, so that a failed test can stop them (they would reconnect forever). */
const made = new Set<WidgetClient>();
export function stopWidgets(): void {
  for (const w of made) w.stop();
  made.clear();
}

export function chatters(url: string, n: number): { list: Chatter[]; until(c: Chatter, what: string, check: () => boolean, timeoutMs?: number): Promise<void> } {
  const waiters = new Map<WidgetClient, Set<() => void>>();
  const list = Array.from({ length: n }, () => {
    const widget = nodeWidget({ baseUrl: url, site: SITE, origin: SITE_ORIGIN, onChange: (c) => waiters.get(c)?.forEach((f) => f()) });
    made.add(widget);
    return { widget, sent: [] as string[] };
  });
  const until = (c: Chatter, what: string, check: () => boolean, timeoutMs = 300_000) =>
    new Promise<void>((resolve, reject) => {
      if (check()) return resolve();
      const set = waiters.get(c.widget) ?? new Set();
      waiters.set(c.widget, set);
      const done = () => {
        if (!check()) return;
        clearTimeout(timer);
        set.delete(done);
        resolve();
      };
      const timer = setTimeout(() => {
        set.delete(done);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what} (visitor ${c.widget.visitor}, status ${c.widget.status})`));
      }, timeoutMs);
      set.add(done);
    });
  return { list, until };
}

async function pool<T>(items: readonly T[], limit: number, fn: (t: T, i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        await fn(items[i]!, i);
      }
    }),
  );
}

/**
 * Every widget sends `perVisitor` messages; round k carries each one's k-th message, the next
 * one going out once the previous was acknowledged, at most `concurrency` (100) awaiting
 * their acknowledgement at once. `redeliver` of the messages are sent again
 * (the same id, as a widget does after a reconnect); `cut` of them have their socket cut right
 * after sending (the widget reconnects and resends what was not acknowledged).
 */
export async function chatLoad(
  url: string,
  o: { visitors: number; perVisitor: number; redeliver?: number; cut?: number; concurrency?: number; onRound?: (k: number) => Promise<void> | void },
): Promise<{ chatters: Chatter[]; redelivered: number; cuts: number; until: ReturnType<typeof chatters>['until'] }> {
  const { list, until } = chatters(url, o.visitors);
  // Opened 100 at a time, as a real crowd arrives (not in one burst of handshakes).
  await pool(list, 100, async (c) => {
    c.widget.connect();
    await until(c, 'online', () => c.widget.status === 'online');
  });
  let redelivered = 0;
  let cuts = 0;
  for (let k = 0; k < o.perVisitor; k++) {
    await pool(list, o.concurrency ?? 100, async (c, i) => {
      const cid = c.widget.send(`message ${k} from visitor ${i} — ünïcødé`)!;
      c.sent.push(cid);
      if (Math.random() < (o.cut ?? 0)) {
        cuts++;
        c.widget.ws?.terminate();
      }
      await until(c, `the ack of message ${k}`, () => c.widget.delivered?.[cid] === true);
      if (Math.random() < (o.redeliver ?? 0)) {
        redelivered++;
        c.widget.resend(cid);
      }
    });
    await o.onRound?.(k);
  }
  return { chatters: list, redelivered, cuts, until };
}

/** Waits until every widget shows every reply (one per message with the echo bot). */
export async function allAnswered(load: Awaited<ReturnType<typeof chatLoad>>, timeoutMs = 300_000): Promise<void> {
  await pool(load.chatters, load.chatters.length, (c) => load.until(c, 'every reply shown', () => c.sent.every((cid) => c.widget.entries.some((x) => x.e.re === cid)), timeoutMs));
}

/** The widgets as the pipeline audit sees a platform: per conversation, the replies displayed, in order. */
export function webchatDriver(list: readonly Chatter[]): LoadDriver {
  const key = (c: Chatter) => conversationKey({ channel: 'webchat', account: SITE, user: c.widget.visitor! });
  return {
    channel: 'webchat',
    accounts: [SITE],
    posts: () => {
      throw new Error('web chat has no webhook: its messages go over sockets (chatLoad)');
    },
    replies: () => new Map(list.map((c) => [key(c), c.widget.entries.filter((x) => x.e.f !== 'visitor' && x.e.re).map((x) => ({ event: `${c.widget.visitor}.${x.e.re}`, index: x.e.n ?? 0 }))])),
    sent: () => list.reduce((n, c) => n + c.widget.entries.filter((x) => x.e.f !== 'visitor').length, 0),
  };
}

/** What the audit expects: per conversation, the event ids of the messages in the order sent. */
export const expectedOf = (list: readonly Chatter[]) => new Map(list.map((c) => [conversationKey({ channel: 'webchat', account: SITE, user: c.widget.visitor! }), c.sent.map((cid) => `${c.widget.visitor}.${cid}`)]));

/** Waits for `check` with the pipeline's processes' warnings in the error. */
export const settle = (what: string, check: () => boolean | Promise<boolean>, timeoutMs = 120_000) => waitUntil(what, check, timeoutMs, 100);
