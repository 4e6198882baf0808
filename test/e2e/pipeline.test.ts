/**
 * The promises end to end: a gateway and two workers as separate processes, Facebook-signed
 * batched POSTs, a fake Graph API that echoes like Facebook. On standalone Redis and cluster.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { redisTargets } from '../helpers/env';
import { audit, killAtRound, sendLoad, startPipeline, type Pipeline, leftovers } from '../helpers/pipeline';
import { sleep, waitUntil } from '../helpers/wait';

for (const target of redisTargets()) {
  describe(`pipeline on ${target.name} redis`, { timeout: 240_000 }, () => {
    const running: Pipeline[] = [];
    after(async () => {
      await Promise.all(running.map((p) => p.stop()));
    });

    test('200 conversations × 20 messages, shuffled across users, 10% redelivered: every reply once, in order', async () => {
      const p = await startPipeline(`load-${target.name}`, target.env);
      running.push(p);
      const load = await sendLoad(p.gateway.url, { users: 200, perUser: 20, redeliver: 0.1 });
      assert.ok(load.redelivered > 20, `the run redelivered POSTs (${load.redelivered})`);
      const total = 200 * 20;
      await waitUntil('every message answered', () => p.graph.messages.length >= total, 120_000);
      await sleep(500); // a late duplicate would show up here
      const a = audit(p.graph, load.expected);
      if (a.duplicates)
        console.error(
          p.workers
            .flatMap((w) => w.output.filter((l) => /"level":(40|50)/.test(l)))
            .slice(0, 30)
            .join('\n'),
        );
      assert.deepEqual(a, { violations: [], duplicates: 0, lost: 0, outOfOrder: 0 });
      assert.equal(p.graph.messages.length, total);
      assert.deepEqual(await leftovers(p, target), [], 'queues drained and locks released');
      // The work really was shared by both workers.
      const metrics = await Promise.all(p.workers.map(async (w) => (await (await fetch(`${w.url}/metrics`)).text()).match(/cb_events_processed_total\{channel="messenger",kind="text"\} (\d+)/)?.[1]));
      assert.ok(
        metrics.every((m) => Number(m) > 0),
        `both workers processed events: ${metrics}`,
      );
      assert.deepEqual(await Promise.all(p.workers.map((w) => w.stop())), [0, 0], 'SIGTERM drains and exits cleanly');
    });

    test('a worker killed with SIGKILL mid-run: still every message answered once, in order', async () => {
      const p = await startPipeline(`kill-${target.name}`, target.env);
      running.push(p);
      const users = 100;
      const perUser = 12;
      const kill = killAtRound(p.workers[0]!, 4, () => p.graph.messages.length > users * 3);
      const load = await sendLoad(p.gateway.url, { users, perUser, redeliver: 0.1, onRound: kill.onRound });
      assert.ok(kill.killed);
      await waitUntil('every message answered', () => p.graph.messages.length >= users * perUser, 120_000);
      await sleep(1_500); // past the echo grace time: a wrongly resent reply would show up now
      assert.deepEqual(audit(p.graph, load.expected), { violations: [], duplicates: 0, lost: 0, outOfOrder: 0 });
      assert.equal(p.graph.messages.length, users * perUser);
      assert.deepEqual(await leftovers(p, target), []);
    });
  });
}
