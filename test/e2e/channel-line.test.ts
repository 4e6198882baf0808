/**
 * The promises on LINE end to end: a gateway and workers as separate processes, LINE-signed
 * webhook POSTs (10 % of them redelivered, marked `isRedelivery`), the LINE fake as the push
 * API, a worker SIGKILLed mid-run; on standalone Redis and on a cluster. The audit reads the
 * fake's accepted pushes by retry key: a 409 is not a second message.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { lineRetryKey } from '../../src/channels/line/retry-key';
import { FakeLine } from '../../src/dev/fake-line';
import { redisTargets, tmpDir } from '../helpers/env';
import { fixtures, LINE_BOT, LINE_CHANNELS, lineBody, lineChannelsFile, lineDriver, lineUser, postLine } from '../helpers/line';
import { audit, killAtRound, problems, sendLoad, startPipeline, type Pipeline, leftovers } from '../helpers/pipeline';
import { sleep, waitUntil } from '../helpers/wait';

async function startLine(label: string, redisEnv: Record<string, string>, workers = 2): Promise<{ p: Pipeline; fake: FakeLine }> {
  const fake = new FakeLine({ channels: LINE_CHANNELS });
  const url = await fake.listen();
  const p = await startPipeline(label, redisEnv, { workers, env: { CHANNELS_FILE: lineChannelsFile(tmpDir(label)), LINE_API_URL: url } });
  return { p, fake };
}

for (const target of redisTargets()) {
  describe(`LINE pipeline on ${target.name} redis`, { timeout: 240_000 }, () => {
    const running: { p: Pipeline; fake: FakeLine }[] = [];
    after(async () => {
      await Promise.all(
        running.map(async ({ p, fake }) => {
          await p.stop();
          await fake.close();
        }),
      );
    });

    test('200 users × 10 messages, 10 % redelivered, a worker SIGKILLed mid-run: every reply once, in order', async () => {
      const run = await startLine(`line-load-${target.name}`, target.env);
      running.push(run);
      const { p, fake } = run;
      const users = 200;
      const perUser = 10;
      const driver = lineDriver(fake, LINE_CHANNELS, 5); // 400 POSTs
      const kill = killAtRound(p.workers[0]!, 4, () => fake.pushes.length > users * 3);
      const load = await sendLoad(p.gateway.url, { users, perUser, redeliver: 0.1, driver, onRound: kill.onRound });
      assert.ok(kill.killed);
      assert.ok(load.redelivered > 15, `the run redelivered POSTs (${load.redelivered})`);
      await waitUntil('every message answered', () => fake.pushes.length >= users * perUser, 120_000);
      await sleep(1_500); // past the lock TTL: a wrongly resent reply would show up now
      const a = audit(driver, load.expected);
      if (a.duplicates + a.lost + a.outOfOrder) console.error(await problems(p));
      assert.deepEqual(a, { violations: [], duplicates: 0, lost: 0, outOfOrder: 0 });
      assert.equal(fake.pushes.length, users * perUser, 'LINE accepted each reply once');
      assert.deepEqual(fake.refused, [], 'LINE refused nothing');
      assert.ok(
        fake.conflicts.every((c) => c.sameBody),
        'a resend is always the same request',
      );
      assert.deepEqual(await leftovers(p, target, 'line:*'), [], 'queues drained and locks released');
      const redeliveries = (await (await fetch(`${p.gateway.url}/metrics`)).text()).match(/cb_webhook_redeliveries_total\{channel="line"\} (\d+)/)?.[1];
      assert.ok(Number(redeliveries) >= load.redelivered, `the gateway counted LINE's redeliveries (${redeliveries})`);
    });

    if (target.name === 'standalone') {
      test('a worker SIGKILLed after LINE accepted its push, before it heard back: the next holder resends with the same key, LINE answers 409, the user sees it once', async () => {
        const run = await startLine('line-kill-send', target.env, 1);
        running.push(run);
        const { p, fake } = run;
        const u = lineUser('kill-send');
        fake.failNext(1, { kind: 'accept-hang' });
        assert.equal((await postLine(p.gateway.url, lineBody([fixtures.text(u, 1, 'ks-1', 'hi'), fixtures.text(u, 2, 'ks-2', 'again')]))).status, 200);
        await waitUntil('LINE accepted the first push', () => fake.pushesTo(u).length === 1, 20_000);
        await sleep(100);
        await p.workers[0]!.kill('SIGKILL');
        const next = await p.startWorker('worker-next');
        await waitUntil('both answered', () => fake.pushesTo(u).length === 2, 30_000);
        await sleep(500);
        assert.deepEqual(fake.textsTo(u), ['You said: "hi"', 'You said: "again"'], 'each reply seen once, in order');
        assert.deepEqual(
          fake.conflicts.filter((c) => c.to === u).map((c) => [c.retryKey, c.sameBody]),
          [[lineRetryKey(LINE_BOT, 'ks-1#0'), true]],
        );
        const m = await (await fetch(`${next.url}/metrics`)).text();
        assert.match(m, /cb_send_already_accepted_total\{channel="line"\} 1/);
        assert.match(m, /cb_send_unconfirmed_total\{settled="resent"\} 1/);
      });
    }
  });
}
