/**
 * A killed worker's conversations resume on the other worker long before their lease would
 * have run out, each reply once and in order. Lease and lock are 60 s here, so only the
 * heartbeat (WORKER_DEAD_AFTER_MS, 2 s by default) can hand them over in time; the test
 * waits for causes (the victim held conversations, the survivor took them over), not clocks.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { connectRedis } from '../../src/queue/redis';
import { redisTargets } from '../helpers/env';
import { audit, sendLoad, startPipeline } from '../helpers/pipeline';
import { sleep, waitUntil } from '../helpers/wait';

const target = redisTargets()[0]!;
const LEASE_MS = 60_000;

describe('recovery after a worker is killed', { timeout: 180_000 }, () => {
  test("a SIGKILLed worker's conversations resume on the other worker before the old lease could run out: every reply once, in order", async () => {
    const p = await startPipeline('recovery', target.env, { env: { LOCK_TTL_MS: String(LEASE_MS) } });
    p.graph.latencyMs = 150; // as Facebook's: the victim is caught holding conversations
    const redis = await connectRedis({ ...target, commandTimeoutMs: 2_000 }, () => undefined);
    try {
      const [victim, survivor] = p.workers as [(typeof p.workers)[0], (typeof p.workers)[0]];
      const id = victim.workerId!;
      assert.ok(id, 'the worker names itself in its ready line');
      const lockedBy = async (worker: string) => {
        const keys = await redis.keys(`${p.prefix}:{*}:lock`);
        const values = keys.length ? await redis.mget(...keys) : [];
        return keys.filter((_, i) => values[i]?.startsWith(`${worker}/`));
      };
      const users = 60;
      const perUser = 8;
      let held: string[] = [];
      let killedAt = 0;
      const load = await sendLoad(p.gateway.url, {
        users,
        perUser,
        onRound: async (k) => {
          if (k !== 2) return;
          await waitUntil('replies flowing', () => p.graph.messages.length > users);
          // Freeze the victim at a moment it holds conversations, note them, then kill it.
          for (let i = 0; i < 100 && held.length === 0; i++) {
            victim.child.kill('SIGSTOP');
            held = await lockedBy(id);
            if (held.length === 0) {
              victim.child.kill('SIGCONT');
              await sleep(20);
            }
          }
          killedAt = Date.now();
          await victim.kill('SIGKILL');
        },
      });
      assert.ok(held.length > 0, 'the victim held conversations when it was killed');
      await waitUntil('every message answered', () => p.graph.messages.length >= users * perUser, LEASE_MS / 2);
      assert.ok(Date.now() - killedAt < LEASE_MS, "answered before the victim's leases and locks could have run out");
      await sleep(5_500); // past the echo grace: a wrongly resent reply would show up now
      assert.deepEqual(audit(p.graph, load.expected), { violations: [], duplicates: 0, lost: 0, outOfOrder: 0 });
      const metrics = await (await fetch(`${survivor.url}/metrics`)).text();
      const takenOver = Number(/^cb_conversations_taken_over_total (\d+)/m.exec(metrics)?.[1]);
      assert.ok(takenOver >= held.length, `the survivor took over the ${held.length} conversations the victim held (${takenOver})`);
      assert.match(metrics, /^cb_dead_workers_total 1$/m);
      assert.match(metrics, /^cb_worker_presumed_dead_total 0$/m, 'and was never itself taken for dead');
    } finally {
      redis.disconnect();
      await p.stop();
    }
  });
});
