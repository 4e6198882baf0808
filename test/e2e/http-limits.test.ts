/**
 * The HTTP server's limits against clients that hold connections: a body dripping in is cut
 * with 408 at HTTP_REQUEST_TIMEOUT_MS, a SIGTERM drain is not held by a request still arriving,
 * and an oversize body gets 413 with `Connection: close` without the rest being read.
 * Against a gateway started as its own process.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, describe, test } from 'node:test';
import { sign } from '../../src/channels/meta/signature';
import { redisTargets, uniquePrefix } from '../helpers/env';
import { APP_SECRET, VERIFY_TOKEN, body, post, text } from '../helpers/fb';
import { startRole, type RoleProcess } from '../helpers/procs';
import { waitUntil } from '../helpers/wait';

const gateway = (label: string, env: Record<string, string>) =>
  startRole(label, {
    NODE_ENV: 'test',
    ROLE: 'gateway',
    FB_APP_SECRET: APP_SECRET,
    FB_VERIFY_TOKEN: VERIFY_TOKEN,
    REDIS_PREFIX: uniquePrefix(label),
    WEBHOOK_BODY_LIMIT: '64kb',
    ...redisTargets()[0]!.env,
    ...env,
  }).ready();

interface Exchange {
  /** Everything the server wrote. */
  received: string;
  /** When the server closed the connection, in ms after it opened. */
  closedAfter?: number;
  closed: Promise<void>;
  socket: net.Socket;
}

/** A raw connection that writes `head` at once and then `drip` one byte every `everyMs`. */
function connect(port: number, head: string, drip = '', everyMs = 500): Exchange {
  const socket = net.connect(port, '127.0.0.1');
  const started = Date.now();
  const x: Exchange = { received: '', socket, closed: Promise.resolve() };
  let timer: NodeJS.Timeout | undefined;
  x.closed = new Promise((resolve) => {
    socket.on('data', (d) => (x.received += d.toString()));
    socket.on('error', () => undefined); // a reset after the server's answer
    socket.on('close', () => {
      clearInterval(timer);
      x.closedAfter = Date.now() - started;
      resolve();
    });
  });
  socket.on('connect', () => {
    socket.write(head);
    let i = 0;
    timer = setInterval(() => {
      if (i < drip.length && !socket.destroyed) socket.write(drip[i++]!);
    }, everyMs);
  });
  return x;
}

const webhookHead = (raw: string, length = Buffer.byteLength(raw)) => `POST /webhook HTTP/1.1\r\nhost: gw\r\ncontent-type: application/json\r\ncontent-length: ${length}\r\nx-hub-signature-256: ${sign(raw, APP_SECRET)}\r\n\r\n`;

describe('HTTP limits', { timeout: 120_000 }, () => {
  const started: RoleProcess[] = [];
  after(async () => {
    await Promise.all(started.map((p) => p.stop()));
  });

  test('a body dripping in is cut with 408 at HTTP_REQUEST_TIMEOUT_MS, and the gateway keeps serving', async () => {
    const gw = await gateway('drip', { HTTP_REQUEST_TIMEOUT_MS: '1000' });
    started.push(gw);
    const raw = JSON.stringify(body([text('101', 'drip', 1, 'm-drip', 'slow')]));
    // 40 bytes at one every 500 ms would take 20 s to arrive.
    const drip = connect(gw.port!, webhookHead(raw), raw.slice(0, 40));
    await drip.closed;
    assert.match(drip.received, /^HTTP\/1\.1 408 /, 'answered 408 Request Timeout');
    assert.ok(drip.closedAfter! < 15_000, `cut before the body could finish (after ${drip.closedAfter} ms)`);
    assert.equal((await post(gw.url, body([text('101', 'drip', 2, 'm-after-drip', 'fast')]))).status, 200, 'still serving');
  });

  test('SIGTERM: a request still arriving does not hold the drain (nothing of it was queued)', async () => {
    // A timeout too long to help: only the drain itself can end these connections in time.
    const gw = await gateway('drain', { HTTP_REQUEST_TIMEOUT_MS: '60000', SHUTDOWN_TIMEOUT_MS: '20000' });
    started.push(gw);
    const raw = JSON.stringify(body([text('101', 'drain', 1, 'm-drain', 'slow')]));
    const bodyDrip = connect(gw.port!, webhookHead(raw), raw);
    const headerDrip = connect(gw.port!, 'POST /webhook HTTP/1.1\r\nhost: gw\r\n', 'x-slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa');
    await new Promise((r) => setTimeout(r, 700));
    assert.equal(bodyDrip.closedAfter, undefined, 'still connected before the SIGTERM');
    const t0 = Date.now();
    const code = await gw.stop();
    assert.equal(code, 0, `drained and exited cleanly (after ${Date.now() - t0} ms), not at SHUTDOWN_TIMEOUT_MS:\n${gw.output.slice(-5).join('\n')}`);
    await Promise.all([bodyDrip.closed, headerDrip.closed]);
  });

  test('a request the HTTP parser refuses (URL and headers over 16 KB, a broken request line) gets a clear JSON error, and the gateway keeps serving', async () => {
    const gw = await gateway('parser', {});
    started.push(gw);
    const answer = (x: Exchange) => {
      // The last answer on the connection.
      const last = x.received.slice(x.received.lastIndexOf('HTTP/1.1 '));
      const [head, payload] = last.split('\r\n\r\n') as [string, string];
      return { status: Number(/^HTTP\/1\.1 (\d{3}) /.exec(head)?.[1]), head, error: (JSON.parse(payload) as { error: string }).error };
    };
    const long = connect(gw.port!, `GET /admin/api/me?q=${'x'.repeat(20_000)} HTTP/1.1\r\nhost: gw\r\n\r\n`);
    await long.closed;
    const a = answer(long);
    assert.equal(a.status, 431);
    assert.match(a.head, /\r\ncontent-type: application\/json/i);
    assert.match(a.error, /16 KB/);
    // The same on a keep-alive connection that was already answered once (as fetch reuses them).
    const second = connect(gw.port!, 'GET /healthz HTTP/1.1\r\nhost: gw\r\n\r\n');
    await waitUntil('the first answer', () => /\r\n\r\n/.test(second.received), 5_000);
    assert.match(second.received, /^HTTP\/1\.1 200 /, 'the first request answered');
    second.socket.write(`GET /admin/api/me?q=${'x'.repeat(20_000)} HTTP/1.1\r\nhost: gw\r\n\r\n`);
    await second.closed;
    assert.equal(answer(second).status, 431);
    assert.match(answer(second).error, /16 KB/);
    const broken = connect(gw.port!, 'NOT AN HTTP REQUEST\r\n\r\n');
    await broken.closed;
    const b = answer(broken);
    assert.equal(b.status, 400);
    assert.match(b.error, /not a valid HTTP request/);
    assert.equal((await post(gw.url, body([text('101', 'parser', 1, 'm-after-parser', 'still here')]))).status, 200, 'still serving');
  });

  test('an oversize body gets 413 with Connection: close, and the rest is not read', async () => {
    const gw = await gateway('big', {});
    started.push(gw);
    const big = JSON.stringify(body([text('101', 'big', 1, 'm-big', 'x'.repeat(70_000))]));
    // Announced too large: answered before any of the body is sent.
    const announced = connect(gw.port!, webhookHead(big, 10_000_000));
    await announced.closed;
    assert.match(announced.received, /^HTTP\/1\.1 413 /);
    assert.match(announced.received, /\r\nconnection: close\r\n/i);
    // Found too large while streaming: the first 70 kB of 10 MB, and nothing more is waited for.
    const streamed = connect(gw.port!, `POST /webhook HTTP/1.1\r\nhost: gw\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\nx-hub-signature-256: ${sign(big, APP_SECRET)}\r\n\r\n${big.length.toString(16)}\r\n${big}\r\n`);
    await streamed.closed;
    assert.match(streamed.received, /^HTTP\/1\.1 413 /);
    assert.match(streamed.received, /\r\nconnection: close\r\n/i);
    assert.match(streamed.received, /larger than the limit of 65536 bytes/);
  });
});
