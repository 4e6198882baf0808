/**
 * A managed Redis asks for a password and speaks TLS. The bot must run against a
 * password-protected cluster and a TLS server with a private CA, and refuse clearly, at
 * once, when the password or the CA is wrong.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { loadConfig } from '../../src/config';
import { FakeGraph } from '../../src/dev/fake-graph';
import { freePort, startRedis, startRedisCluster, type RedisCluster, type RedisProcess } from '../../src/dev/redis-server';
import { connectRedis, remoteTarget } from '../../src/queue/redis';
import { startTestApp } from '../helpers/app';
import { tmpDir } from '../helpers/env';
import { body, post, text } from '../helpers/fb';
import { waitUntil } from '../helpers/wait';

const PASSWORD = 'cluster-secret-7f3a';
const redisConfig = (env: Record<string, string>) => loadConfig({ NODE_ENV: 'test', ...env }).redis;

describe('Redis with a password (cluster)', () => {
  let cluster: RedisCluster;
  const graph = new FakeGraph({ anyTokenPage: '101' });
  let graphUrl: string;
  let nodes: string;
  before(async () => {
    cluster = await startRedisCluster({ dir: tmpDir('redis-auth'), masters: 3, password: PASSWORD });
    nodes = cluster.seeds.map((s) => `${s.host}:${s.port}`).join(',');
    graphUrl = await graph.listen();
  });
  after(async () => {
    await graph.close();
    await cluster.stop();
  });

  test('with REDIS_PASSWORD the bot answers every message in order across the cluster', async () => {
    const app = await startTestApp('redis-auth', { REDIS_CLUSTER_NODES: nodes, REDIS_PASSWORD: PASSWORD, GRAPH_API_URL: graphUrl });
    try {
      // Users on different slots, so every master is reached with the password.
      const users = ['ann', 'bob', 'cy', 'dee', 'eve', 'fay'];
      for (const u of users) await post(app.url, body([text('101', u, 1, `${u}-1`, 'one'), text('101', u, 2, `${u}-2`, 'two')]));
      await waitUntil('every reply', () => users.every((u) => graph.messagesTo(u).length === 2), 15_000);
      for (const u of users)
        assert.deepEqual(
          graph.messagesTo(u).map((c) => c.metadata?.mid),
          [`${u}-1`, `${u}-2`],
        );
    } finally {
      await app.stop();
    }
  });

  test('a wrong or missing password is refused at once, naming the reason', async () => {
    for (const [env, reason] of [
      [{ REDIS_PASSWORD: 'not-it' }, /WRONGPASS|invalid username-password/],
      [{}, /NOAUTH|Authentication required/],
    ] as const) {
      const started = Date.now();
      await assert.rejects(
        connectRedis(remoteTarget(redisConfig({ REDIS_CLUSTER_NODES: nodes, ...env })), () => undefined),
        (err: Error) => {
          assert.match(err.message, reason);
          return true;
        },
      );
      assert.ok(Date.now() - started < 10_000, 'no waiting out the 15 s ready timeout');
    }
  });
});

describe('Redis over TLS with a private CA (standalone)', () => {
  let redis: RedisProcess;
  let tlsPort: number;
  let caFile: string;
  before(async () => {
    const dir = tmpDir('redis-tls');
    const ssl = (...args: string[]) => {
      const r = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`openssl ${args[0]} failed: ${r.stderr}`);
    };
    ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=test CA', '-keyout', 'ca.key', '-out', 'ca.crt');
    ssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=127.0.0.1', '-keyout', 'server.key', '-out', 'server.csr');
    fs.writeFileSync(path.join(dir, 'san.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
    ssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2', '-extfile', 'san.ext', '-out', 'server.crt');
    caFile = path.join(dir, 'ca.crt');
    tlsPort = await freePort();
    redis = await startRedis({
      dir: path.join(dir, 'server'),
      extraArgs: ['--tls-port', String(tlsPort), '--tls-cert-file', path.join(dir, 'server.crt'), '--tls-key-file', path.join(dir, 'server.key'), '--tls-ca-cert-file', caFile, '--tls-auth-clients', 'no'],
    });
  });
  after(() => redis.stop());

  test('rediss:// with REDIS_TLS_CA_FILE connects to the TLS port and works', async () => {
    const client = await connectRedis(remoteTarget(redisConfig({ REDIS_URL: `rediss://127.0.0.1:${tlsPort}`, REDIS_TLS_CA_FILE: caFile })), () => undefined);
    try {
      await client.set('tls-probe', 'over tls');
      assert.equal(await client.get('tls-probe'), 'over tls');
      const info = await client.client('INFO');
      assert.match(String(info), new RegExp(`laddr=127\\.0\\.0\\.1:${tlsPort}`), 'the connection is the TLS port');
    } finally {
      client.disconnect();
    }
  });

  test('without the CA the server certificate is not trusted, and the error says so at once', async () => {
    const started = Date.now();
    await assert.rejects(
      connectRedis(remoteTarget(redisConfig({ REDIS_URL: `rediss://127.0.0.1:${tlsPort}` })), () => undefined),
      /certificate/,
    );
    assert.ok(Date.now() - started < 10_000);
  });
});
