/**
 * Instagram end to end: a gateway and two workers as processes, Instagram-signed batched POSTs
 * (`object: "instagram"`), the Graph API fake answering for Instagram accounts and echoing like
 * Instagram (no metadata). The promises under load, redeliveries and a SIGKILLed worker, and
 * Messenger and Instagram side by side on the one POST /webhook. On standalone Redis and cluster.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { redisTargets } from '../helpers/env';
import { postRaw } from '../helpers/fb';
import { IG_ACCOUNTS, instagramDriver, startInstagramPipeline } from '../helpers/instagram';
import { audit, killAtRound, messengerDriver, PAGES, problems, sendLoad, waitForReplies, type LoadMessage, type Pipeline, leftovers } from '../helpers/pipeline';
import { sleep, waitUntil } from '../helpers/wait';

const counter = async (url: string, pattern: RegExp): Promise<number> => Number((await (await fetch(`${url}/metrics`)).text()).match(pattern)?.[1] ?? 0);

for (const target of redisTargets()) {
  describe(`Instagram pipeline on ${target.name} redis`, { timeout: 300_000 }, () => {
    const running: Pipeline[] = [];
    after(async () => {
      await Promise.all(running.map((p) => p.stop()));
    });

    test('200 users × 10 messages, 10% redelivered, a worker SIGKILLed mid-run: every reply once, in order', async () => {
      const p = await startInstagramPipeline(`ig-load-${target.name}`, target.env);
      running.push(p);
      const driver = instagramDriver(p.graph);
      const users = 200;
      const perUser = 10;
      const kill = killAtRound(p.workers[0]!, 3, () => driver.sent() > users * 2);
      const load = await sendLoad(p.gateway.url, { users, perUser, redeliver: 0.1, driver, onRound: kill.onRound });
      assert.ok(kill.killed);
      // 200 POSTs (10 messages each), 10 % of them sent again: about 20; fewer than 8 has odds under 1 in 1,000.
      assert.ok(load.redelivered >= 8, `the run redelivered POSTs (${load.redelivered})`);
      await waitForReplies(driver, load.expected, 120_000);
      await sleep(7_000); // past the echo grace time and the lock TTL: a wrongly resent reply would show up now
      const a = audit(driver, load.expected);
      if (a.duplicates || a.lost || a.outOfOrder) console.error(JSON.stringify(a), await problems(p, 60));
      assert.deepEqual(a, { violations: [], duplicates: 0, lost: 0, outOfOrder: 0 });
      assert.equal(driver.sent(), users * perUser, 'no reply sent twice');
      assert.ok(
        p.graph.messages.every((c) => IG_ACCOUNTS.includes(c.pageId) && (c.body.message as Record<string, unknown>).metadata === undefined),
        'sent as the Instagram accounts, no metadata',
      );
      assert.deepEqual(await leftovers(p, target), [], 'queues drained and locks released');
    });

    test('Messenger and Instagram in alternating POSTs to the one /webhook: each reaches its channel, each reply goes out through its own account', async () => {
      const p = await startInstagramPipeline(`ig-mixed-${target.name}`, target.env);
      running.push(p);
      const fb = messengerDriver(p.graph, PAGES);
      const ig = instagramDriver(p.graph);
      const expected = { fb: new Map<string, string[]>(), ig: new Map<string, string[]>() };
      const base = Date.now();
      for (let k = 0; k < 5; k++) {
        const round = (prefix: 'fb' | 'ig', accounts: readonly string[]): LoadMessage[] =>
          Array.from({ length: 40 }, (_, u) => {
            const m = { account: accounts[u % accounts.length]!, user: `${prefix}${u}`, id: `m_${prefix}_${u}_${k}`, ts: base + k * 1000 + u, text: `${prefix} message ${k} from ${u}` };
            const key = prefix === 'fb' ? `${m.account}:${m.user}` : `instagram:${m.account}:${m.user}`;
            expected[prefix].set(key, [...(expected[prefix].get(key) ?? []), m.id]);
            return m;
          });
        const fbPosts = fb.posts(round('fb', PAGES));
        const igPosts = ig.posts(round('ig', IG_ACCOUNTS));
        // Strictly alternating: a Messenger POST, an Instagram POST, …
        for (let i = 0; i < Math.max(fbPosts.length, igPosts.length); i++) {
          for (const x of [fbPosts[i], igPosts[i]]) {
            if (!x) continue;
            const r = await postRaw(p.gateway.url, x.raw, { unsigned: true, headers: x.headers });
            assert.equal(r.status, 200, JSON.stringify(r.body));
          }
        }
      }
      await Promise.all([waitForReplies(fb, expected.fb, 60_000), waitForReplies(ig, expected.ig, 60_000)]);
      await sleep(500);
      assert.deepEqual(audit(fb, expected.fb), { violations: [], duplicates: 0, lost: 0, outOfOrder: 0 });
      assert.deepEqual(audit(ig, expected.ig), { violations: [], duplicates: 0, lost: 0, outOfOrder: 0 });
      const calls = p.graph.messages;
      assert.equal(calls.length, 2 * 40 * 5);
      for (const c of calls) {
        const meta = (c.body.message as Record<string, unknown>).metadata;
        if (c.recipientId.startsWith('ig')) assert.ok(IG_ACCOUNTS.includes(c.pageId) && meta === undefined, `Instagram user ${c.recipientId} answered by ${c.pageId}`);
        else assert.ok(PAGES.includes(c.pageId) && typeof meta === 'string', `Messenger user ${c.recipientId} answered by ${c.pageId}`);
      }
      // Each platform's echo came back to the webhook and was read as its own channel's.
      await waitUntil('Instagram echoes queued for the record', async () => (await counter(p.gateway.url, /cb_webhook_events_total\{channel="instagram",kind="echo",outcome="queued"\} (\d+)/)) === 200, 20_000);
      await waitUntil('Messenger echoes confirming replies', async () => (await counter(p.gateway.url, /cb_webhook_events_total\{channel="messenger",kind="echo",outcome="recorded"\} (\d+)/)) === 200, 20_000);
      const processed = await Promise.all(p.workers.map((w) => counter(w.url, /cb_events_processed_total\{channel="instagram",kind="text"\} (\d+)/)));
      assert.equal(
        processed.reduce((a, b) => a + b, 0),
        200,
        'every Instagram message handled on the instagram channel',
      );
    });
  });
}
