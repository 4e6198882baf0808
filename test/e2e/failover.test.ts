/**
 * Redis Cluster failover under load: 3 masters with a replica each, a master SIGKILLed mid
 * run, restarted after its replica took over. With REDIS_WAIT_REPLICAS=1 the gateway acknowledges only replicated events and a
 * worker sends only after its "being sent" mark is replicated, so the promotion loses
 * nothing the system promised: every message answered, once, in order.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startRedisCluster, rawCommand, type RedisCluster } from '../../src/dev/redis-server';
import { tmpDir } from '../helpers/env';
import { audit, problems, sendLoad, startPipeline, waitForReplies, type Pipeline } from '../helpers/pipeline';
import { sleep, waitUntil } from '../helpers/wait';

describe('Redis Cluster failover', { timeout: 240_000 }, () => {
  let cluster: RedisCluster;
  let p: Pipeline | undefined;
  before(async () => {
    cluster = await startRedisCluster({ dir: tmpDir('failover-redis'), masters: 3, replicas: 1 });
  });
  after(async () => {
    await p?.stop();
    await cluster?.stop();
  });

  test('a master killed mid-load: its replica takes over and no message is lost, duplicated or reordered', async () => {
    p = await startPipeline(
      'failover',
      { REDIS_CLUSTER_NODES: cluster.seeds.map((s) => `${s.host}:${s.port}`).join(',') },
      {
        // The echo grace must outlast a failover: an echo is recorded only once the shard is writable again.
        env: { REDIS_WAIT_REPLICAS: '1', REDIS_WAIT_TIMEOUT_MS: '1000', REDIS_COMMAND_TIMEOUT_MS: '3000', SEND_ECHO_GRACE_MS: '15000' },
      },
    );
    const roles = [p.gateway, ...p.workers];
    const users = 120;
    const perUser = 10;
    let killedAt = 0;
    let promotedMs = 0;
    let victim = -1;
    const load = await sendLoad(p.gateway.url, {
      users,
      perUser,
      redeliver: 0.05,
      onRound: async (k) => {
        if (k !== 3) return;
        await waitUntil('replies flowing', () => p!.graph.messages.length > users * 2, 30_000);
        const roles = await Promise.all(cluster.nodes.map((n) => rawCommand(n.port, ['ROLE'], 5_000).catch(() => '')));
        victim = roles.findIndex((r) => r.includes('master'));
        killedAt = Date.now();
        await cluster.nodes[victim]!.kill();
        // Its replica is promoted; then the node comes back (as a Kubernetes pod would) and
        // rejoins as the new master's replica, so replicated writes can be acknowledged again.
        const others = cluster.nodes.filter((_, i) => i !== victim);
        await waitUntil('the promotion', async () => (await Promise.all(others.map((n) => rawCommand(n.port, ['ROLE'], 5_000).catch(() => '')))).filter((r) => r.includes('master')).length === 3, 60_000, 100);
        promotedMs = Date.now() - killedAt;
        await cluster.nodes[victim]!.start();
      },
    });
    assert.ok(victim >= 0, 'a master was killed');
    await waitForReplies(p.graph, load.expected, 120_000);
    const recoveredMs = (p.graph.messages.find((c) => c.at > killedAt + 1)?.at ?? Date.now()) - killedAt;
    await sleep(16_000); // past the echo grace: a wrong resend would show now
    const a = audit(p.graph, load.expected);
    const metrics = (await Promise.all(roles.map(async (r) => (await (await fetch(`${r.url}/metrics`)).text()).split('\n').filter((l) => /^cb_(redis_not_replicated|send_unconfirmed)_total/.test(l))))).flat();
    console.log(
      `[failover] killed master ${victim} mid-load; replica promoted after ${promotedMs} ms; first reply after the kill ${recoveredMs} ms later; lost ${a.lost}, duplicated ${a.duplicates}, out of order ${a.outOfOrder}; ${metrics.join('; ') || 'no shortfall counters'}`,
    );
    assert.deepEqual(a, { violations: [], duplicates: 0, lost: 0, outOfOrder: 0 }, await problems(p));
    // The promoted replica is a master now and the cluster is whole again.
    const info = await rawCommand(cluster.nodes.find((_, i) => i !== victim)!.port, ['CLUSTER', 'INFO'], 5_000);
    assert.match(info, /cluster_state:ok/);
  });
});
