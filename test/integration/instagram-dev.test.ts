/**
 * Dev mode (no CHANNELS_FILE, PAGES_FILE or GRAPH_API_URL) serves one Instagram account through
 * the built-in Graph API emulator: a message posted as Instagram would post it is answered, the
 * emulator's API lists what the bot sent, and the reply's echo comes back as Instagram's.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEV_INSTAGRAM } from '../../src/channels/registry';
import { startTestApp } from '../helpers/app';
import { redisTargets } from '../helpers/env';
import { waitUntil } from '../helpers/wait';

test('dev mode: one Instagram account, answered through the emulator, echoed as Instagram echoes', async () => {
  const app = await startTestApp('igdev', { ...redisTargets()[0]!.env });
  try {
    const ig = app.fakeInstagram;
    assert.ok(ig, 'the emulator serves an Instagram account');
    const sent = await ig.sendAsUser(DEV_INSTAGRAM.id, '6512340000000001', 'hello from Instagram');
    assert.equal(sent.status, 200);
    await waitUntil('the bot answered', () => ig.sentTo('6512340000000001').length === 1, 10_000);
    const call = ig.sentTo('6512340000000001')[0]!;
    assert.deepEqual([call.pageId, call.text, (call.body.message as Record<string, unknown>).metadata], [DEV_INSTAGRAM.id, 'You said: "hello from Instagram"', undefined]);
    // The echo of that reply reached the webhook as an Instagram event and was processed.
    await waitUntil('the echo recorded', async () => /cb_events_processed_total\{channel="instagram",kind="echo"\} 1/.test(await app.metrics.registry.getSingleMetricAsString('cb_events_processed_total')), 10_000);
    // Another account's message is counted, not answered.
    assert.equal((await ig.sendAsUser('17841400000009999', '6512340000000002', 'not ours')).status, 200);
    assert.match(await app.metrics.registry.getSingleMetricAsString('cb_webhook_events_total'), /channel="instagram",kind="text",outcome="unknown_account"\} 1/);
  } finally {
    await app.stop();
  }
});
