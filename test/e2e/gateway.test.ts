/** The webhook's contract over HTTP: handshake, signatures, bad input, and 503 while Redis is down. */
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { encodeLikeFacebook, sign } from '../../src/channels/meta/signature';
import { FakeGraph } from '../../src/dev/fake-graph';
import { rawCommand, startRedis, startRedisCluster } from '../../src/dev/redis-server';
import { masters } from '../../src/queue/redis';
import { startTestApp } from '../helpers/app';
import { redisTargets, tmpDir } from '../helpers/env';
import { APP_SECRET, VERIFY_TOKEN, body, post, postRaw, text } from '../helpers/fb';
import { sleep, waitUntil } from '../helpers/wait';

for (const target of redisTargets()) {
  describe(`gateway on ${target.name} redis`, () => {
    let app: Awaited<ReturnType<typeof startTestApp>>;
    const keyCount = async () => (await Promise.all(masters(app.redis).map((m) => m.keys(`${app.prefix}:*`)))).flat().length;
    before(async () => {
      app = await startTestApp(`gw-${target.name}`, { ...target.env, ROLE: 'gateway', WEBHOOK_BODY_LIMIT: '64kb' });
    });
    after(() => app.stop());

    test('GET /webhook answers the challenge only for the right verify token', async () => {
      const ok = await fetch(`${app.url}/webhook?hub.mode=subscribe&hub.verify_token=${VERIFY_TOKEN}&hub.challenge=1158201444`);
      assert.equal(ok.status, 200);
      assert.equal(await ok.text(), '1158201444');
      for (const q of [`hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=1`, `hub.mode=unsubscribe&hub.verify_token=${VERIFY_TOKEN}&hub.challenge=1`, 'hub.challenge=1']) {
        assert.equal((await fetch(`${app.url}/webhook?${q}`)).status, 403, q);
      }
    });

    test('signed POSTs are accepted with both headers, or the legacy sha1 alone', async () => {
      const b = body([text('101', 'sig1', 1, 'm-sig-1', 'héllo / wörld')]);
      const r = await post(app.url, b);
      assert.equal(r.status, 200);
      assert.equal(r.body.queued, 1);
      const legacy = await post(app.url, body([text('101', 'sig1', 2, 'm-sig-2', 'old')]), { legacyOnly: true });
      assert.equal(legacy.body.queued, 1);
      const dup = await post(app.url, b);
      assert.deepEqual([dup.status, dup.body.duplicates, dup.body.queued], [200, 1, 0], 'a redelivery is acknowledged and dropped');
    });

    test('bad input gets a clear 4xx and nothing is queued; the gateway keeps serving', async () => {
      const before = await keyCount();
      const good = encodeLikeFacebook(body([text('101', 'bad1', 1, 'm-bad', 'x')]));
      const cases: [string, Promise<{ status: number; body: any }>, number, RegExp][] = [
        ['no signature', postRaw(app.url, good, { unsigned: true }), 403, /missing X-Hub-Signature-256/],
        ['wrong signature', postRaw(app.url, good, { secret: 'not-the-secret' }), 403, /does not match/],
        ['signature of other bytes', postRaw(app.url, good.replace('"x"', '"y"'), { headers: { 'x-hub-signature-256': sign(good, APP_SECRET) } }), 403, /does not match/],
        ['malformed JSON', postRaw(app.url, '{"object":"page","entry":['), 400, /malformed JSON/],
        ['oversize body', postRaw(app.url, encodeLikeFacebook(body([text('101', 'big', 1, 'm-big', 'x'.repeat(70_000))]))), 413, /larger than the limit/],
        // `user`: a Meta webhook object (profile changes) this version does not take.
        ['object of a platform this version does not serve', post(app.url, { object: 'user', entry: [] }), 400, /object must be one of "page"/],
        ['missing sender', post(app.url, { object: 'page', entry: [{ id: '101', time: 1, messaging: [{ recipient: { id: '101' }, timestamp: 1, message: { mid: 'm-x', text: 'x' } }] }] }), 400, /sender is required/],
        ['missing recipient', post(app.url, { object: 'page', entry: [{ id: '101', time: 1, messaging: [{ sender: { id: 'u' }, timestamp: 1, message: { mid: 'm-y', text: 'x' } }] }] }), 400, /recipient is required/],
        ['one bad event among good ones', post(app.url, body([text('101', 'bad2', 1, 'm-ok', 'fine'), { sender: { id: 'bad2' }, recipient: { id: '101' }, timestamp: 2, message: { text: 'no mid' } }])), 400, /mid is required/],
      ];
      for (const [label, res, status, message] of cases) {
        const r = await res;
        assert.equal(r.status, status, label);
        assert.match(String(r.body.error), message, label);
      }
      assert.equal(await keyCount(), before, 'nothing queued');
      assert.equal((await post(app.url, body([text('101', 'bad3', 1, 'm-after', 'still here')]))).status, 200);
    });

    test('POST /webhook routes as express would (case, trailing slash, query); a chunked oversize body or a client gone mid-body queues nothing', async () => {
      for (const [i, path] of ['/webhook/', '/WebHook', '/webhook?source=fb'].entries()) {
        const r = await post(app.url, body([text('101', 'route', i + 1, `m-route-${i}`, path)]), { path });
        assert.deepEqual([r.status, r.body.queued], [200, 1], path);
      }
      assert.equal((await post(app.url, body([text('101', 'route', 9, 'm-route-x', 'x')]), { path: '/webhookx' })).status, 404);
      const before = await keyCount();
      // No content-length: the limit is enforced while the body streams in.
      const big = encodeLikeFacebook(body([text('101', 'chunked', 1, 'm-chunked', 'x'.repeat(70_000))]));
      const chunked = await new Promise<{ status: number; text: string }>((resolve, reject) => {
        const req = http.request(`${app.url}/webhook`, { method: 'POST', headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked', 'x-hub-signature-256': sign(big, APP_SECRET) } }, (res) => {
          let t = '';
          res.on('data', (c) => (t += c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, text: t }));
        });
        req.on('error', reject);
        for (let i = 0; i < big.length; i += 8_192) req.write(big.slice(i, i + 8_192));
        req.end();
      });
      assert.equal(chunked.status, 413);
      assert.match(chunked.text, /larger than the limit/);
      // A client that announces a body and goes away halfway.
      const half = encodeLikeFacebook(body([text('101', 'gone', 1, 'm-gone', 'never finished')]));
      await new Promise<void>((resolve) => {
        const sock = net.connect(Number(new URL(app.url).port), '127.0.0.1', () => {
          sock.write(`POST /webhook HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${half.length}\r\nx-hub-signature-256: ${sign(half, APP_SECRET)}\r\n\r\n${half.slice(0, 20)}`);
          setTimeout(() => sock.destroy(), 100);
        });
        sock.on('close', () => resolve());
      });
      await sleep(100);
      assert.equal(await keyCount(), before, 'nothing queued');
      assert.equal((await post(app.url, body([text('101', 'gone', 2, 'm-after-gone', 'next')]))).status, 200, 'still serving');
    });

    // (Handover Protocol events are known since the agent inbox; app_roles is still not acted on.)
    test('unknown event kinds are counted and logged, never fatal', async () => {
      const r = await post(app.url, {
        object: 'page',
        entry: [{ id: '101', time: 1, messaging: [{ sender: { id: 'uk' }, recipient: { id: '101' }, timestamp: 1, app_roles: { 9: ['primary_receiver'] } }, text('101', 'uk', 2, 'm-uk', 'hi')] }],
      });
      assert.deepEqual([r.status, r.body.queued, r.body.ignored], [200, 1, 1]);
      const metrics = await (await fetch(`${app.url}/metrics`)).text();
      assert.match(metrics, /cb_webhook_events_total\{channel="unknown",kind="unknown",outcome="ignored"\} 1/);
    });

    test('fuzzed POSTs (random bytes, JSON and headers) get a 4xx, never crash the gateway, and queue nothing unsigned', async () => {
      const before = await keyCount();
      const header = fc.oneof(
        fc.constant(undefined),
        fc.string({ maxLength: 80 }),
        fc.stringMatching(/^[0-9a-f]{64}$/).map((h) => `sha256=${h}`),
      );
      const payload = fc.oneof(
        fc.uint8Array({ maxLength: 2_000 }).map((b) => Buffer.from(b)),
        fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v) ?? 'null'),
      );
      await fc.assert(
        fc.asyncProperty(payload, header, header, async (raw, h256, h1) => {
          const headers: Record<string, string> = { 'content-type': 'application/json' };
          if (h256 !== undefined) headers['x-hub-signature-256'] = h256;
          if (h1 !== undefined) headers['x-hub-signature'] = h1;
          const res = await fetch(`${app.url}/webhook`, { method: 'POST', body: raw, headers }).catch((err: Error) => ({ status: -1, err }));
          assert.ok([400, 403, 413].includes(res.status), `status ${res.status}`);
        }),
        { numRuns: 150 },
      );
      // Validly signed garbage: a clear 400, nothing queued either.
      await fc.assert(
        fc.asyncProperty(fc.jsonValue({ maxDepth: 4 }), async (v) => {
          const r = await postRaw(app.url, JSON.stringify(v) ?? 'null');
          assert.ok(r.status === 400 || (r.status === 200 && r.body.queued === 0), `status ${r.status} ${JSON.stringify(r.body)}`);
        }),
        { numRuns: 100 },
      );
      assert.equal(await keyCount(), before, 'nothing queued');
      assert.equal((await fetch(`${app.url}/healthz`)).status, 200, 'still serving');
    });

    test('/healthz, /readyz and /metrics answer', async () => {
      assert.equal((await fetch(`${app.url}/healthz`)).status, 200);
      assert.deepEqual(await (await fetch(`${app.url}/readyz`)).json(), { status: 'ready' });
      const m = await (await fetch(`${app.url}/metrics`)).text();
      for (const name of ['cb_webhook_ack_seconds_bucket', 'cb_duplicates_total', 'cb_queue_conversations_pending', 'cb_webhook_requests_total']) assert.ok(m.includes(name), name);
    });
  });
}

async function privateRedis(kind: 'standalone' | 'cluster'): Promise<{ env: Record<string, string>; stop(): Promise<void>; start(): Promise<void> }> {
  if (kind === 'standalone') {
    const r = await startRedis({ dir: tmpDir('outage') });
    return { env: { REDIS_URL: r.url }, stop: () => r.stop(), start: () => r.start() };
  }
  const c = await startRedisCluster({ dir: tmpDir('outage-cluster'), masters: 3 });
  return {
    env: { REDIS_CLUSTER_NODES: c.seeds.map((n) => `${n.host}:${n.port}`).join(',') },
    stop: () => c.stop(),
    start: async () => {
      await Promise.all(c.nodes.map((n) => n.start()));
      await waitUntil('cluster_state:ok after the restart', async () => (await Promise.all(c.nodes.map((n) => rawCommand(n.port, ['CLUSTER', 'INFO'])))).every((i) => i.includes('cluster_state:ok')), 20_000);
    },
  };
}

for (const kind of ['standalone', 'cluster'] as const) {
  describe(`${kind} redis outage`, () => {
    test('Redis stopped → 503 and not ready; restarted → processing resumes with nothing lost', async () => {
      const redis = await privateRedis(kind);
      const graph = new FakeGraph({ anyTokenPage: '101' });
      const graphUrl = await graph.listen();
      const app = await startTestApp('outage', { ...redis.env, GRAPH_API_URL: graphUrl, LOCK_TTL_MS: '1000', REDIS_COMMAND_TIMEOUT_MS: '500' });
      try {
        const send = (n: number) => post(app.url, body([text('101', 'out', 1000 + n, `m-out-${n}`, `n${n}`)]));
        for (let n = 0; n < 5; n++) assert.equal((await send(n)).status, 200);
        await redis.stop(); // some of the five may still be queued: AOF keeps them
        for (let n = 5; n < 10; n++) assert.equal((await send(n)).status, 503, `POST ${n} while Redis is down`);
        assert.equal((await fetch(`${app.url}/readyz`)).status, 503);
        await redis.start();
        await waitUntil('ready again', async () => (await fetch(`${app.url}/readyz`)).status === 200, 20_000);
        // Facebook retries what got a 503; the gateway may need a moment to see every node again.
        for (let n = 5; n < 10; n++) await waitUntil(`retry of POST ${n} accepted`, async () => (await send(n)).status === 200, 20_000, 200);
        await waitUntil('all ten answered', () => graph.messages.length >= 10, 30_000);
        await sleep(300);
        assert.deepEqual(
          graph.messages.map((c) => c.metadata?.mid),
          Array.from({ length: 10 }, (_, n) => `m-out-${n}`),
        );
      } finally {
        await app.stop();
        await graph.close();
        await redis.stop();
      }
    });
  });
}

describe('FB_ALLOW_SHA1=false', () => {
  test('a POST signed only with the legacy sha1 header is refused; one with X-Hub-Signature-256 is taken', async () => {
    const app = await startTestApp('nosha1', { ...redisTargets()[0]!.env, ROLE: 'gateway', FB_ALLOW_SHA1: 'false' });
    try {
      const legacy = await post(app.url, body([text('101', 'sha1', 1, 'm-sha1-1', 'old')]), { legacyOnly: true });
      assert.equal(legacy.status, 403);
      assert.match(legacy.body.error, /FB_ALLOW_SHA1=false/);
      const both = await post(app.url, body([text('101', 'sha1', 1, 'm-sha1-1', 'old')]));
      assert.deepEqual([both.status, both.body.queued], [200, 1], 'the refused POST queued nothing: its retry is new');
    } finally {
      await app.stop();
    }
  });
});
