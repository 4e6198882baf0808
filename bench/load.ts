/**
 * Load generators that sign like Facebook (one event per POST, ASCII-escaped body, both
 * signature headers). Closed loop: C clients, each waits for its answer. Open loop: a fixed
 * rate. Each client owns its users, so every user's messages go out in order.
 */
import http from 'node:http';
import { encodeLikeFacebook, sign } from '../src/channels/meta/signature';
import { APP_SECRET } from '../test/helpers/fb';

export interface Sent {
  mid: string;
  key: string;
  at: number;
}

export interface LoadResult {
  requests: number;
  seconds: number;
  ackMs: number[];
  statuses: Record<string, number>;
  sent: Sent[];
  /** Open loop: messages not sent on time because every user still waited for an ack. */
  behind?: number;
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 512 });

function post(url: URL, raw: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: url.hostname,
        port: url.port,
        path: '/webhook',
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(raw), 'x-hub-signature-256': sign(raw, APP_SECRET), 'x-hub-signature': sign(raw, APP_SECRET, 'sha1') },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end(raw);
  });
}

export class Users {
  private readonly next: number[];
  readonly base = Date.now();
  constructor(
    readonly count: number,
    readonly pages: string[],
  ) {
    this.next = new Array(count).fill(0);
  }
  /** The body of user u's next message, and what was sent. */
  message(u: number): { raw: string; sent: Omit<Sent, 'at'> } {
    const page = this.pages[u % this.pages.length]!;
    const k = this.next[u]!++;
    const mid = `m_${page}_u${u}_${k}`;
    const raw = encodeLikeFacebook({ object: 'page', entry: [{ id: page, time: Date.now(), messaging: [{ sender: { id: `u${u}` }, recipient: { id: page }, timestamp: this.base + k, message: { mid, text: `message ${k} — ünïcødé` } }] }] });
    return { raw, sent: { mid, key: `${page}:u${u}` } };
  }
}

export async function closedLoop(baseUrl: string, o: { clients: number; seconds?: number; total?: number; users: Users }): Promise<LoadResult> {
  const url = new URL(baseUrl);
  const result: LoadResult = { requests: 0, seconds: 0, ackMs: [], statuses: {}, sent: [] };
  const t0 = performance.now();
  const end = o.seconds ? t0 + o.seconds * 1000 : Infinity;
  let issued = 0;
  await Promise.all(
    Array.from({ length: o.clients }, async (_, c) => {
      // Client c owns users c, c + clients, c + 2·clients…
      const mine = Array.from({ length: Math.ceil(o.users.count / o.clients) }, (_, i) => c + i * o.clients).filter((u) => u < o.users.count);
      for (let i = 0; performance.now() < end && (o.total === undefined || issued < o.total); i++) {
        issued++;
        const { raw, sent } = o.users.message(mine[i % mine.length]!);
        const s = performance.now();
        const at = Date.now();
        const status = await post(url, raw);
        result.ackMs.push(performance.now() - s);
        result.statuses[status] = (result.statuses[status] ?? 0) + 1;
        if (status === 200) result.sent.push({ ...sent, at });
        result.requests++;
      }
    }),
  );
  result.seconds = (performance.now() - t0) / 1000;
  return result;
}

/** Sends `rate` messages per second for `seconds`, round-robin over the users. With `retry`,
 * a POST that is not answered 200 is sent again until it is, as Facebook redelivers. */
export async function openLoop(baseUrl: string, o: { rate: number; seconds: number; users: Users; retry?: boolean }): Promise<LoadResult> {
  const url = new URL(baseUrl);
  const result: LoadResult = { requests: 0, seconds: o.seconds, ackMs: [], statuses: {}, sent: [] };
  const inFlight = new Set<Promise<void>>();
  const t0 = performance.now();
  let due = 0;
  let u = 0;
  // One user's next message waits for its previous one (Facebook delivers a user in order).
  const busy = new Set<number>();
  while (performance.now() - t0 < o.seconds * 1000) {
    const target = Math.floor(((performance.now() - t0) / 1000) * o.rate);
    for (; due < target; due++) {
      let tries = 0;
      while (busy.has(u) && tries++ < o.users.count) u = (u + 1) % o.users.count;
      if (busy.has(u)) {
        // Every user waits for an ack: sending anyway would break per-user order, which
        // Facebook does not do. The system is saturated; count what could not go out.
        result.behind = (result.behind ?? 0) + (target - due);
        due = target;
        break;
      }
      const user = u;
      u = (u + 1) % o.users.count;
      busy.add(user);
      const { raw, sent } = o.users.message(user);
      const s = performance.now();
      const attempt = async (): Promise<number> => {
        for (;;) {
          const status = await post(url, raw).catch(() => 0);
          if (status === 200 || !o.retry) return status;
          result.statuses[status] = (result.statuses[status] ?? 0) + 1;
          await new Promise((r) => setTimeout(r, 250));
        }
      };
      const p = attempt().then((status) => {
        result.ackMs.push(performance.now() - s);
        result.statuses[status] = (result.statuses[status] ?? 0) + 1;
        if (status === 200) result.sent.push({ ...sent, at: Date.now() - Math.round(performance.now() - s) });
        result.requests++;
        busy.delete(user);
        inFlight.delete(p);
      });
      inFlight.add(p);
    }
    await new Promise((r) => setTimeout(r, 5));
  }
  await Promise.all(inFlight);
  return result;
}

export function quantiles(xs: number[]): { p50: number; p95: number; p99: number } {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p: number) => Number((s[Math.min(s.length - 1, Math.floor(p * s.length))] ?? 0).toFixed(1));
  return { p50: q(0.5), p95: q(0.95), p99: q(0.99) };
}
