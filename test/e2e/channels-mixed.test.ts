/**
 * Every channel at once, end to end: one deployment serving Messenger pages, Instagram
 * accounts, WhatsApp numbers and LINE channels, each platform's users writing at the same
 * time (10 % of POSTs redelivered), a worker SIGKILLed mid-run. On each channel every
 * message is answered once, in order, through that channel's own confirmation strategy.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { FakeLine } from '../../src/dev/fake-line';
import { redisTargets, tmpDir } from '../helpers/env';
import { fakeInstagramOn, IG_ACCOUNTS, igToken, instagramDriver } from '../helpers/instagram';
import { LINE_CHANNELS, lineDriver } from '../helpers/line';
import { audit, killAtRound, messengerDriver, problems, sendLoad, startPipeline, type LoadDriver, type Pipeline } from '../helpers/pipeline';
import { WA_NUMBERS, WA_USER_PREFIX, waFake, waToken, whatsappDriver } from '../helpers/whatsapp';
import { APP_SECRET } from '../helpers/fb';
import { sleep, waitUntil } from '../helpers/wait';

const target = redisTargets()[1]!; // a cluster: keys of four channels spread over its masters

describe('all four channels at once', { timeout: 300_000 }, () => {
  const stops: (() => Promise<void>)[] = [];
  after(async () => {
    for (const s of stops) await s();
  });

  test('Messenger, Instagram, WhatsApp and LINE users at once, 10 % redelivered, a worker SIGKILLed: every reply once, in order, on every channel', async () => {
    const dir = tmpDir('mixed');
    const channelsFile = path.join(dir, 'channels.json');
    fs.writeFileSync(
      channelsFile,
      JSON.stringify({
        channels: [
          ...IG_ACCOUNTS.map((id) => ({ type: 'instagram', id, accessToken: igToken(id) })),
          ...WA_NUMBERS.map((id) => ({ type: 'whatsapp', id, accessToken: waToken(id) })),
          ...LINE_CHANNELS.map((c) => ({ type: 'line', id: c.id, channelSecret: c.channelSecret, accessToken: c.accessToken })),
        ],
      }),
    );
    const line = new FakeLine({ channels: LINE_CHANNELS });
    const lineUrl = await line.listen();
    const p: Pipeline = await startPipeline('mixed', target.env, { dir, workers: 2, env: { CHANNELS_FILE: channelsFile, LINE_API_URL: lineUrl } });
    const wa = waFake();
    p.graph.mount(wa.router());
    wa.setWebhook({ url: `${p.gateway.url}/webhook`, appSecret: APP_SECRET });
    const ig = fakeInstagramOn(p.graph);
    ig.setWebhook({ webhookUrl: `${p.gateway.url}/webhook`, appSecret: APP_SECRET });
    line.setWebhook(`${p.gateway.url}/webhook/line`);
    stops.push(async () => {
      await p.stop();
      await Promise.all([wa.close(), line.close()]);
    });

    const drivers: LoadDriver[] = [messengerDriver(p.graph), instagramDriver(p.graph), whatsappDriver(wa), lineDriver(line, LINE_CHANNELS, 5)];
    const users = 60;
    const perUser = 8;
    const sent = () => drivers.reduce((n, d) => n + d.sent(), 0);
    // Once replies flow on every channel, from the first channel's round 3.
    const kill = killAtRound(p.workers[0]!, 3, () => drivers.every((d) => d.sent() > users));
    const loads = await Promise.all(
      drivers.map((driver, i) =>
        sendLoad(p.gateway.url, {
          users,
          perUser,
          redeliver: 0.1,
          driver,
          concurrency: 4,
          userPrefix: driver.channel === 'whatsapp' ? WA_USER_PREFIX : `${driver.channel[0]}u`,
          ...(i === 0 ? { onRound: kill.onRound } : {}),
        }),
      ),
    );
    assert.ok(kill.killed);
    const total = drivers.length * users * perUser;
    await waitUntil('every message answered', () => drivers.every((d, i) => [...loads[i]!.expected.values()].flat().every((m) => [...d.replies().values()].flat().some((r) => r.event === m))), 180_000);
    await sleep(6_000); // past the confirmation grace: a wrongly resent reply would show up now
    for (const [i, d] of drivers.entries()) {
      assert.deepEqual(audit(d, loads[i]!.expected), { violations: [], duplicates: 0, lost: 0, outOfOrder: 0 }, `${d.channel}\n${await problems(p)}`);
    }
    assert.ok(sent() >= total, `${sent()} sends for ${total} messages`);
  });
});
