/**
 * The promises on WhatsApp end to end: a gateway and two workers as processes, Meta-signed
 * batched webhooks, the Cloud API fake answering with wamids and posting signed statuses
 * (sent, delivered) back. 200 users × 10 messages, 10 % of the POSTs redelivered, a worker
 * SIGKILLed mid-run: every message answered once, in order. On standalone Redis and a cluster.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { redisTargets } from '../helpers/env';
import { audit, killAtRound, problems, sendLoad, type Pipeline, leftovers } from '../helpers/pipeline';
import { startWhatsAppPipeline, WA_USER_PREFIX } from '../helpers/whatsapp';
import { sleep, waitUntil } from '../helpers/wait';

/** Logs and counters of the roles still running (a SIGKILLed worker has none to give). */
const report = (p: Pipeline) => problems({ ...p, workers: p.workers.filter((w) => w.child.exitCode === null && w.child.signalCode === null) });

for (const target of redisTargets()) {
  describe(`whatsapp pipeline on ${target.name} redis`, { timeout: 240_000 }, () => {
    const running: Pipeline[] = [];
    after(async () => {
      await Promise.all(running.map((p) => p.stop()));
    });

    test('200 users × 10 messages, 10 % redelivered, a worker SIGKILLed mid-run: every reply once, in order, each confirmed by its statuses', async () => {
      const { p, wa, driver } = await startWhatsAppPipeline(`wa-load-${target.name}`, target.env);
      running.push(p);
      const users = 200;
      const perUser = 10;
      const kill = killAtRound(p.workers[0]!, 3, () => wa.sent.length > users * 2);
      const load = await sendLoad(p.gateway.url, { users, perUser, redeliver: 0.1, driver, userPrefix: WA_USER_PREFIX, onRound: kill.onRound });
      assert.ok(kill.killed);
      assert.ok(load.redelivered > 10, `the run redelivered POSTs (${load.redelivered})`);
      const total = users * perUser;
      await waitUntil('every message answered', () => wa.sent.length >= total, 150_000).catch(async (err: Error) => {
        throw new Error(`${err.message}: ${wa.sent.length} of ${total}\n${await report(p)}`);
      });
      await sleep(1_500); // past the confirmation grace: a wrongly resent reply would show up now
      const a = audit(driver, load.expected);
      if (a.violations.length || a.duplicates || a.lost) console.error(await report(p));
      assert.deepEqual(a, { violations: [], duplicates: 0, lost: 0, outOfOrder: 0 });
      assert.equal(wa.sent.length, total);
      await waitUntil('every status acknowledged', () => wa.sent.every((m) => m.statuses.length === 2), 30_000);
      // A late confirmation wakes its conversation: the worker looks, finds nothing to do, and lets go.
      await waitUntil('queues drained and locks released', async () => (await leftovers(p, target)).length === 0, 30_000);
    });
  });
}
