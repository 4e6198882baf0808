/**
 * The protocol ceiling's server: exactly a message's HTTP work and nothing else. On POST
 * /webhook it reads the body, checks the X-Hub-Signature-256 over the exact bytes, parses the
 * JSON and answers 200; for each user message it calls the Send API twice — `mark_seen` and the
 * echo bot's reply, carrying the same metadata the product's does — over keep-alive
 * connections; the echo Facebook (the fake) posts back for that reply is read, checked and
 * answered like any POST. No Redis, no queue, no order, no dedupe, no log.
 *
 * `PROCESSES` node:cluster workers share the port (the product runs a gateway and two
 * workers: the ceiling may use every core too). The primary logs `bench-ready` with the port
 * and the pids of its workers.
 */
import cluster from 'node:cluster';
import crypto from 'node:crypto';
import http from 'node:http';

const processes = Math.max(1, Number(process.env.PROCESSES ?? 2));

if (cluster.isPrimary) {
  const workers = Array.from({ length: processes }, () => cluster.fork());
  let listening = 0;
  cluster.on('listening', (_w, address) => {
    if (++listening === processes) process.stdout.write(`${JSON.stringify({ msg: 'bench-ready', port: address.port, pids: workers.map((w) => w.process.pid) })}\n`);
  });
  process.on('SIGTERM', () => {
    for (const w of workers) w.kill('SIGTERM');
    process.exit(0);
  });
} else {
  const secret = process.env.APP_SECRET ?? '';
  const graph = new URL(process.env.GRAPH_API_URL ?? 'http://127.0.0.1:1/v21.0');
  const tokens = JSON.parse(process.env.TOKENS ?? '{}') as Record<string, string>;
  const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });

  const call = (page: string, body: unknown): void => {
    const raw = JSON.stringify(body);
    const req = http.request(
      {
        hostname: graph.hostname,
        port: graph.port,
        path: `${graph.pathname}/me/messages?access_token=${encodeURIComponent(tokens[page] ?? '')}`,
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(raw) },
      },
      (res) => res.resume(),
    );
    req.on('error', () => undefined);
    req.end(raw);
  };

  const answer = (res: http.ServerResponse, status: number, body: unknown): void => {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  };

  interface Messaging {
    sender?: { id?: string };
    recipient?: { id?: string };
    message?: { mid?: string; text?: string; is_echo?: boolean };
  }

  const server = http.createServer((req, res) => {
    if (req.method !== 'POST') return answer(res, 404, { error: 'not found' });
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      const got = Buffer.from(String(req.headers['x-hub-signature-256'] ?? ''));
      const want = Buffer.from(`sha256=${crypto.createHmac('sha256', secret).update(raw).digest('hex')}`);
      if (got.length !== want.length || !crypto.timingSafeEqual(got, want)) return answer(res, 403, { error: 'invalid signature' });
      let body: { entry?: { id?: string; messaging?: Messaging[] }[] };
      try {
        body = JSON.parse(raw.toString('utf8'));
      } catch {
        return answer(res, 400, { error: 'malformed JSON' });
      }
      answer(res, 200, { status: 'EVENT_RECEIVED' });
      for (const entry of body.entry ?? []) {
        for (const m of entry.messaging ?? []) {
          if (!m.message || m.message.is_echo || !m.sender?.id || !entry.id) continue;
          call(entry.id, { recipient: { id: m.sender.id }, sender_action: 'mark_seen' });
          call(entry.id, { recipient: { id: m.sender.id }, messaging_type: 'RESPONSE', message: { text: `You said: "${m.message.text ?? ''}"`, metadata: JSON.stringify({ mid: m.message.mid, i: 0 }) } });
        }
      }
    });
  });
  server.keepAliveTimeout = 65_000;
  server.listen(0, '127.0.0.1');
  process.on('SIGTERM', () => server.close(() => process.exit(0)));
}
