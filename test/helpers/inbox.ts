/** The agent inbox in tests: a receiver for handoff alerts, and the admin app's live stream read as events. */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Received {
  body: string;
  headers: http.IncomingHttpHeaders;
  at: number;
}

/** A Slack-like webhook receiver; `failFirst` answers 500 that many times first (to see the retries). */
export async function alertReceiver(failFirst = 0): Promise<{ url: string; received: Received[]; close(): Promise<void> }> {
  const received: Received[] = [];
  let fails = failFirst;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (fails-- > 0) return void res.writeHead(500).end('try later');
      received.push({ body: Buffer.concat(chunks).toString('utf8'), headers: req.headers, at: Date.now() });
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/handoff`, received, close: () => new Promise((r) => server.close(() => r())) };
}

/** The admin API's live stream, collecting its `inbox` events. */
export function liveEvents(baseUrl: string, token: string): { events: Record<string, unknown>[]; stop(): void; ready: Promise<void> } {
  const events: Record<string, unknown>[] = [];
  const ctrl = new AbortController();
  let opened!: () => void;
  const ready = new Promise<void>((r) => (opened = r));
  void (async () => {
    const res = await fetch(`${baseUrl}/admin/api/live`, { headers: { authorization: `Bearer ${token}` }, signal: ctrl.signal });
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    let buf = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buf += value;
      if (buf.includes(': live')) opened();
      let i;
      while ((i = buf.indexOf('\n\n')) >= 0) {
        const chunk = buf.slice(0, i);
        buf = buf.slice(i + 2);
        if (chunk.startsWith('event: inbox'))
          events.push({
            ...JSON.parse(
              chunk
                .split('\n')
                .find((l) => l.startsWith('data: '))!
                .slice(6),
            ),
            receivedAt: Date.now(),
          });
      }
    }
  })().catch(() => undefined);
  return { events, stop: () => ctrl.abort(), ready };
}
