import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { ConfigError, loadConfig } from '../../src/config';

test('dev mode starts with embedded defaults and says which secrets are development values', () => {
  const c = loadConfig({});
  assert.equal(c.role, 'all');
  assert.equal(c.port, 3000);
  assert.equal(c.redis.embedded, true);
  assert.equal(c.fb.graphApiUrl, undefined, 'dev mode uses the built-in Graph API emulator');
  assert.equal(c.webhook.bodyLimitBytes, 1024 * 1024);
  assert.ok(c.queue.dedupeTtlMs >= 48 * 3600_000, 'dedupe markers outlive Facebook retries');
  assert.deepEqual([c.fb.allowSha1, c.queue.maxOverflow], [true, 10_000], 'old apps signing with sha1 only keep working; a flood is bounded');
  assert.equal(c.http.requestTimeoutMs, 10_000, 'a request must arrive within 10 s: under SHUTDOWN_TIMEOUT_MS');
  assert.deepEqual([loadConfig({ FB_ALLOW_SHA1: 'false' }).fb.allowSha1, loadConfig({ QUEUE_OVERFLOW_MAX: '0' }).queue.maxOverflow], [false, 0]);
  assert.ok(c.warnings.some((w) => w.includes('FB_APP_SECRET')));
  assert.ok(Object.isFrozen(c) && Object.isFrozen(c.queue), 'config is frozen');
});

test('every bad variable is reported at once', () => {
  let err: unknown;
  try {
    loadConfig({
      PORT: 'http',
      ROLE: 'boss',
      LOG_LEVEL: 'loud',
      REDIS_URL: 'localhost:6379',
      WEBHOOK_BODY_LIMIT: '10gb',
      QUEUE_SHARDS: '0',
      DATABASE_URL: 'mysql://x',
      FB_ALLOW_SHA1: 'no',
      QUEUE_OVERFLOW_MAX: '-1',
      HTTP_REQUEST_TIMEOUT_MS: '10',
    });
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof ConfigError);
  const text = err.problems.join('\n');
  for (const name of ['PORT', 'ROLE', 'LOG_LEVEL', 'REDIS_URL', 'WEBHOOK_BODY_LIMIT', 'QUEUE_SHARDS', 'DATABASE_URL', 'FB_ALLOW_SHA1', 'QUEUE_OVERFLOW_MAX', 'HTTP_REQUEST_TIMEOUT_MS'])
    assert.match(text, new RegExp(name), `${name} reported`);
  assert.equal(err.problems.length, 10);
});

test('production refuses development fallbacks', () => {
  assert.throws(
    () => loadConfig({ NODE_ENV: 'production' }),
    (e: unknown) => e instanceof ConfigError && ['FB_APP_SECRET', 'FB_VERIFY_TOKEN', 'FB_PAGE_ACCESS_TOKEN', 'REDIS_URL', 'DATABASE_URL'].every((n) => e.problems.some((p) => p.includes(n))),
  );
  const prod = { NODE_ENV: 'production', FB_APP_SECRET: 'a-real-secret', FB_VERIFY_TOKEN: 'tok-1', FB_PAGE_ACCESS_TOKEN: 'EAAtoken', REDIS_CLUSTER_NODES: 'r1:7000, r2:7001', DATABASE_URL: 'postgres://bot@db/chatlog' };
  const c = loadConfig({ ...prod, FB_APP_ID: '1234567890' });
  assert.equal(c.fb.graphApiUrl, 'https://graph.facebook.com/v21.0');
  assert.equal(c.fb.appId, '1234567890');
  assert.deepEqual(c.redis.clusterNodes, [
    { host: 'r1', port: 7000 },
    { host: 'r2', port: 7001 },
  ]);
  assert.equal(c.warnings.length, 0);
  // Without FB_APP_ID the data-deletion callback cannot resolve Meta's app-scoped ids: said at start, not refused.
  assert.deepEqual(loadConfig(prod).warnings.filter((w) => /FB_APP_ID.*page-scoped/.test(w)).length, 1);
  assert.throws(() => loadConfig({ ...prod, FB_APP_ID: 'my-app' }), /FB_APP_ID="my-app" must be the Meta app's numeric id/);
  // A worker needs neither the app secret nor a database.
  const w = loadConfig({ NODE_ENV: 'production', ROLE: 'worker', FB_PAGE_ACCESS_TOKEN: 'EAAtoken', REDIS_URL: 'redis://r:6379' });
  assert.equal(w.role, 'worker');
  assert.throws(() => loadConfig({ NODE_ENV: 'production', ROLE: 'worker', REDIS_URL: 'redis://r:6379' }), /CHANNELS_FILE \(or, for Messenger alone, FB_PAGE_ACCESS_TOKEN or PAGES_FILE\) is required/);
  // The chatlog role sends nothing: it needs Redis and PostgreSQL, no Facebook credentials.
  const l = loadConfig({ NODE_ENV: 'production', ROLE: 'chatlog', REDIS_URL: 'redis://r:6379', DATABASE_URL: 'postgres://bot@db/chatlog' });
  assert.equal(l.role, 'chatlog');
  assert.throws(() => loadConfig({ NODE_ENV: 'production', ROLE: 'chatlog', REDIS_URL: 'redis://r:6379' }), /DATABASE_URL is required/);
});

test('PAGES_FILE gives each page its own token, and its mistakes are named', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cfg-'));
  const good = path.join(dir, 'pages.json');
  fs.writeFileSync(
    good,
    JSON.stringify({
      pages: [
        { id: '111', name: 'Shop', accessToken: 'EAA-token-111' },
        { id: 222, accessToken: 'EAA-token-222' },
      ],
    }),
  );
  const c = loadConfig({ PAGES_FILE: good });
  assert.equal(c.fb.pages?.get('111')?.accessToken, 'EAA-token-111');
  assert.equal(c.fb.pages?.get('222')?.accessToken, 'EAA-token-222');
  const bad = path.join(dir, 'bad.json');
  fs.writeFileSync(bad, JSON.stringify({ pages: [{ id: 'x y', accessToken: 'short' }] }));
  assert.throws(
    () => loadConfig({ PAGES_FILE: bad }),
    (e: unknown) => e instanceof ConfigError && e.problems.length === 2,
  );
  assert.throws(() => loadConfig({ PAGES_FILE: path.join(dir, 'missing.json') }), /cannot be read: ENOENT/);
  fs.writeFileSync(bad, '{"pages": [');
  assert.throws(() => loadConfig({ PAGES_FILE: bad }), /not valid JSON/);
});

test('Redis credentials and TLS: for a remote Redis only, each mistake named', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cfg-redis-'));
  const ca = path.join(dir, 'ca.pem');
  fs.writeFileSync(ca, '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n');
  const c = loadConfig({ REDIS_CLUSTER_NODES: 'r1:7000', REDIS_USERNAME: 'bot', REDIS_PASSWORD: 'pw', REDIS_TLS: 'true', REDIS_TLS_CA_FILE: ca });
  assert.deepEqual([c.redis.username, c.redis.password, c.redis.tls?.ca?.startsWith('-----BEGIN')], ['bot', 'pw', true]);
  assert.deepEqual(loadConfig({ REDIS_URL: 'rediss://r:6380' }).redis.tls, {}, 'rediss:// means TLS, with the system CAs');
  assert.equal(loadConfig({ REDIS_URL: 'redis://r:6379' }).redis.tls, undefined);
  const notPem = path.join(dir, 'key.txt');
  fs.writeFileSync(notPem, 'not a certificate');
  for (const [env, problem] of [
    [{ REDIS_PASSWORD: 'pw' }, /REDIS_USERNAME\/REDIS_PASSWORD needs REDIS_URL or REDIS_CLUSTER_NODES/],
    [{ REDIS_TLS: 'true' }, /REDIS_TLS needs REDIS_URL or REDIS_CLUSTER_NODES/],
    [{ REDIS_URL: 'redis://r:6379', REDIS_USERNAME: 'bot' }, /REDIS_USERNAME needs REDIS_PASSWORD/],
    [{ REDIS_URL: 'redis://:pw@r:6379', REDIS_PASSWORD: 'pw' }, /in REDIS_URL or in REDIS_USERNAME\/REDIS_PASSWORD, not both/],
    [{ REDIS_URL: 'redis://r:6379', REDIS_TLS_CA_FILE: ca }, /REDIS_TLS_CA_FILE needs TLS/],
    [{ REDIS_URL: 'rediss://r:6379', REDIS_TLS_CA_FILE: notPem }, /holds no PEM certificate/],
    [{ REDIS_URL: 'rediss://r:6379', REDIS_TLS_CA_FILE: path.join(dir, 'missing.pem') }, /REDIS_TLS_CA_FILE .* cannot be read: ENOENT/],
    [{ REDIS_CLUSTER_NODES: 'r1:7000', REDIS_TLS: 'yes' }, /REDIS_TLS="yes" must be one of: true, false/],
  ] as const) {
    assert.throws(
      () => loadConfig(env),
      (e: unknown) => e instanceof ConfigError && e.problems.some((p) => problem.test(p)),
      JSON.stringify(env),
    );
  }
});

test('dev mode listens on loopback only (its emulator signs webhooks for anyone who asks) unless HOST says otherwise; production on every interface', () => {
  assert.equal(loadConfig({}).host, '127.0.0.1');
  assert.equal(loadConfig({ HOST: '0.0.0.0' }).host, '0.0.0.0');
  const prod = { NODE_ENV: 'production', FB_APP_SECRET: 'a-real-secret', FB_VERIFY_TOKEN: 'tok-1', FB_PAGE_ACCESS_TOKEN: 'EAAtoken', REDIS_URL: 'redis://r:6379', DATABASE_URL: 'postgres://bot@db/chatlog' };
  assert.equal(loadConfig(prod).host, '0.0.0.0', 'the Service, probes and compose ports reach the pod address');
  assert.equal(loadConfig({ ...prod, HOST: '10.0.0.5' }).host, '10.0.0.5');
});

test('WORKER_DEAD_AFTER_MS: 2 s by default, 0 turns the heartbeat off, a value too short to beat reliably is refused', () => {
  assert.equal(loadConfig({}).worker.deadAfterMs, 2_000);
  assert.equal(loadConfig({ WORKER_DEAD_AFTER_MS: '0' }).worker.deadAfterMs, 0);
  assert.equal(loadConfig({ WORKER_DEAD_AFTER_MS: '5000' }).worker.deadAfterMs, 5_000);
  for (const [value, problem] of [
    ['50', /WORKER_DEAD_AFTER_MS=50 must be 0 \(off\) or at least 200/],
    ['2s', /WORKER_DEAD_AFTER_MS="2s" must be an integer/],
  ] as const) {
    assert.throws(
      () => loadConfig({ WORKER_DEAD_AFTER_MS: value }),
      (e: unknown) => e instanceof ConfigError && e.problems.some((p) => problem.test(p)),
      value,
    );
  }
});

test('TRUST_PROXY: off by default; true, a hop count or proxy addresses/CIDRs; anything else is named', () => {
  assert.equal(loadConfig({}).trustProxy, false);
  assert.equal(loadConfig({ TRUST_PROXY: 'false' }).trustProxy, false);
  const t = loadConfig({ TRUST_PROXY: 'true' });
  assert.equal(t.trustProxy, true);
  assert.ok(
    t.warnings.some((w) => /TRUST_PROXY=true.*forge|write/.test(w)),
    'true is trusted blindly: said at start',
  );
  assert.equal(loadConfig({ TRUST_PROXY: '2' }).trustProxy, 2);
  assert.deepEqual(loadConfig({ TRUST_PROXY: '10.0.0.0/8, 192.168.1.7,fd00::/8,loopback' }).trustProxy, ['10.0.0.0/8', '192.168.1.7', 'fd00::/8', 'loopback']);
  for (const bad of ['yes', '0', '11', '10.0.0.0/33', '300.1.1.1', 'fd00::/129', '10.0.0.1/8/8', 'proxy.internal']) {
    assert.throws(
      () => loadConfig({ TRUST_PROXY: bad }),
      (e: unknown) => e instanceof ConfigError && e.problems.some((p) => p.startsWith(`TRUST_PROXY=${JSON.stringify(bad)} must be`)),
      bad,
    );
  }
});
