/**
 * `npm run bench -- channel-instagram`: Instagram end to end (gateway + 2 workers + the Graph API
 * fake answering and echoing as Instagram) next to Messenger under the same load in the same run,
 * each audited for the promises (order, duplicates, losses). Instagram does more per reply than
 * Messenger — its echoes (ours included) are queued and recorded by a worker, since they cannot
 * say whose they are, and each reply's `done` is its own reply-2 call (the keyed count) — so the
 * figure that travels between machines is its ratio to Messenger's.
 */
import fs from 'node:fs';
import path from 'node:path';
import { channelsFile, fakeInstagramOn, instagramDriver } from '../test/helpers/instagram';
import { audit, messengerDriver, PAGES, sendLoad, startPipeline, waitForReplies, type LoadDriver, type Pipeline } from '../test/helpers/pipeline';
import type { BenchServers } from './env';

type Result = Record<string, number>;

async function run(s: BenchServers, channel: 'messenger' | 'instagram', users: number, perUser: number): Promise<Result> {
  const dir = path.join(s.tmp, `channel-${channel}`);
  fs.mkdirSync(dir, { recursive: true });
  const env = { SEND_ECHO_GRACE_MS: '5000', LOCK_TTL_MS: '10000', WORKER_POLL_MS: '5', ...(channel === 'instagram' ? { CHANNELS_FILE: channelsFile(dir) } : {}) };
  const p: Pipeline = await startPipeline(`bench-ch-${channel}`, { REDIS_URL: s.redis.url }, { workers: 2, dir, env });
  try {
    let driver: LoadDriver;
    if (channel === 'instagram') {
      fakeInstagramOn(p.graph);
      driver = instagramDriver(p.graph);
    } else driver = messengerDriver(p.graph, PAGES);
    const t0 = Date.now();
    const load = await sendLoad(p.gateway.url, { users, perUser, driver, concurrency: 32 });
    await waitForReplies(driver, load.expected, 180_000);
    const seconds = (Date.now() - t0) / 1000;
    await new Promise((r) => setTimeout(r, 1_000)); // late duplicates show up here
    const a = audit(driver, load.expected);
    return { messages_per_s: Math.round((users * perUser) / seconds), order_violations: a.outOfOrder, duplicates: a.duplicates, lost: a.lost };
  } finally {
    await p.stop();
  }
}

export async function channelInstagram(s: BenchServers, quick: boolean): Promise<Result> {
  const users = quick ? 200 : 1_000;
  const perUser = quick ? 5 : 10;
  const messenger = await run(s, 'messenger', users, perUser);
  const instagram = await run(s, 'instagram', users, perUser);
  return {
    messages: users * perUser,
    instagram_messages_per_s: instagram.messages_per_s!,
    messenger_messages_per_s: messenger.messages_per_s!,
    ratio_to_messenger: Number((instagram.messages_per_s! / messenger.messages_per_s!).toFixed(2)),
    order_violations: instagram.order_violations! + messenger.order_violations!,
    duplicates: instagram.duplicates! + messenger.duplicates!,
    lost: instagram.lost! + messenger.lost!,
  };
}
