/**
 * Web chat bench (`npm run bench -- channel-webchat`): two gateways and two workers as
 * processes. Sockets held per gateway and memory per socket: idle widgets (hello done, history
 * loaded) opened directly on each gateway, the gateway's resident memory before and after.
 * End to end per message: a share of those widgets send at a steady rate; the time from the
 * widget's send to the bot's reply shown by that widget, p50/p99; and the audit of what they
 * display (0 lost, 0 duplicated, 0 out of order).
 */
import fs from 'node:fs';
import path from 'node:path';
import { nodeWidget, type WidgetClient } from '../src/dev/fake-webchat';
import type { RoleProcess } from '../test/helpers/procs';
import { auditShown, SITE, SITE_ORIGIN } from '../test/helpers/webchat';
import { startWebchatPipeline } from '../test/helpers/webchat-load';
import type { BenchServers } from './env';
import { quantiles } from './load';

type Result = Record<string, number>;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const rssKib = (p: RoleProcess) => Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${p.child.pid}/status`, 'utf8'))?.[1] ?? 0);

async function until(what: string, check: () => boolean, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

/** `n` idle widgets on `baseUrl`, opened 200 at a time. */
async function openWidgets(baseUrl: string, n: number, onChange?: (c: WidgetClient) => void): Promise<WidgetClient[]> {
  const out: WidgetClient[] = [];
  for (let i = 0; i < n; i += 200) {
    const batch = Array.from({ length: Math.min(200, n - i) }, () => nodeWidget({ baseUrl, site: SITE, origin: SITE_ORIGIN, ...(onChange ? { onChange } : {}) }));
    for (const w of batch) w.connect();
    await until('widgets online', () => batch.every((w) => w.status === 'online'), 60_000);
    out.push(...batch);
  }
  return out;
}

export async function webchat(s: BenchServers, quick: boolean): Promise<Result> {
  const dir = path.join(s.tmp, 'webchat');
  fs.mkdirSync(dir, { recursive: true });
  const p = await startWebchatPipeline('bench-webchat', { REDIS_URL: s.redis.url }, { dir });
  const perGateway = quick ? 500 : 2_500;
  const widgets: WidgetClient[] = [];
  try {
    await sleep(1_000);
    const before = p.gateways.map(rssKib);
    // Latency bookkeeping: when each message was sent, and its reply first shown.
    const sentAt = new Map<string, number>();
    const latencies: number[] = [];
    const onChange = (w: WidgetClient) => {
      const last = w.entries[w.entries.length - 1];
      const re = last?.e.f === 'bot' ? last.e.re : undefined;
      const t0 = re ? sentAt.get(re) : undefined;
      if (re && t0 !== undefined) {
        latencies.push(performance.now() - t0);
        sentAt.delete(re);
      }
    };
    for (const g of p.gateways) widgets.push(...(await openWidgets(g.url, perGateway, onChange)));
    await sleep(2_000);
    const after = p.gateways.map(rssKib);
    const held = await Promise.all(p.gateways.map(async (g) => Number(/cb_webchat_sockets (\d+)/.exec(await (await fetch(`${g.url}/metrics`)).text())?.[1] ?? 0)));

    // Steady load: `rate` messages a second spread over `senders` widgets (both gateways), one message in flight per widget.
    const rate = quick ? 100 : 200;
    const seconds = quick ? 5 : 15;
    const senders = widgets.filter((_, i) => i % Math.floor(widgets.length / 200) === 0).slice(0, 200);
    const sent = new Map<WidgetClient, string[]>(senders.map((w) => [w, []]));
    const started = Date.now();
    for (let k = 0; Date.now() - started < seconds * 1000; k++) {
      const w = senders[k % senders.length]!;
      const cid = w.send(`bench ${k}`)!;
      sentAt.set(cid, performance.now());
      sent.get(w)!.push(cid);
      const due = started + ((k + 1) * 1000) / rate;
      if (due > Date.now()) await sleep(due - Date.now());
    }
    const total = [...sent.values()].reduce((n, l) => n + l.length, 0);
    await until('every reply shown', () => latencies.length >= total, 120_000).catch(() => undefined);
    await sleep(500);
    const audits = [...sent].map(([w, cids]) => auditShown(w.entries, cids));
    const q = quantiles(latencies);
    return {
      sockets_per_gateway: Math.min(...held),
      sockets_held: held.reduce((a, b) => a + b, 0),
      memory_kib_per_socket: Number(((after.reduce((a, b) => a + b, 0) - before.reduce((a, b) => a + b, 0)) / held.reduce((a, b) => a + b, 0)).toFixed(1)),
      messages: total,
      messages_per_s: rate,
      e2e_p50_ms: q.p50,
      e2e_p99_ms: q.p99,
      lost: audits.reduce((n, a) => n + a.lost, 0),
      duplicates: audits.reduce((n, a) => n + a.duplicates, 0),
      out_of_order: audits.reduce((n, a) => n + a.outOfOrder, 0),
    };
  } finally {
    for (const w of widgets) w.stop();
    await p.stop();
  }
}
