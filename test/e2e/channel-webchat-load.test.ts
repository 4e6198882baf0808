/**
 * Web chat at a thousand sockets: 1,000 widgets open at once through two gateways (behind a
 * TCP balancer), 10 messages each, every message sent once the previous was acknowledged.
 * Pass or fail is what the widgets display (nothing lost, doubled or out of order), never a
 * timing: the machine is shared. Timings are `npm run bench` (channel-webchat).
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { redisTargets } from '../helpers/env';
import { audit } from '../helpers/pipeline';
import { sleep } from '../helpers/wait';
import { auditShown } from '../helpers/webchat';
import { allAnswered, chatLoad, expectedOf, startWebchatPipeline, webchatDriver, type WebchatPipeline } from '../helpers/webchat-load';

let p: WebchatPipeline | undefined;
after(async () => {
  await p?.stop();
});

test('1,000 concurrent sockets × 10 messages through two gateways: every message and reply shown once, in order', { timeout: 600_000 }, async () => {
  // Redis shares the machine's two cores with everything else running: commands get time to answer.
  p = await startWebchatPipeline('wc1000', redisTargets()[0]!.env, { env: { REDIS_COMMAND_TIMEOUT_MS: '10000' } });
  const load = await chatLoad(p.url, { visitors: 1_000, perVisitor: 10 });
  await allAnswered(load, 300_000);
  await sleep(500);
  const held = await Promise.all(p.gateways.map(async (g) => Number(/cb_webchat_sockets (\d+)/.exec(await (await fetch(`${g.url}/metrics`)).text())?.[1])));
  assert.equal(held[0]! + held[1]!, 1_000, `sockets held: ${held.join(' + ')}`);
  assert.ok(
    held.every((n) => n > 0),
    `both gateways hold sockets: ${held.join(' + ')}`,
  );
  const bad = load.chatters.map((c) => auditShown(c.widget.entries, c.sent)).filter((a) => a.lost || a.duplicates || a.outOfOrder);
  assert.deepEqual(bad.slice(0, 3), []);
  assert.deepEqual(audit(webchatDriver(load.chatters), expectedOf(load.chatters)), { violations: [], duplicates: 0, lost: 0, outOfOrder: 0 });
  assert.equal(
    load.chatters.reduce((n, c) => n + c.widget.entries.length, 0),
    20_000,
    'each widget shows its 10 messages and 10 replies',
  );
  for (const c of load.chatters) c.widget.stop();
});
