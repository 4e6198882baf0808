/**
 * `chatlog-memory`: what the chatlog stream costs Redis while no chatlog role drains it. A
 * gateway and a worker with the dialog bot (no chatlog role) answer users who write
 * Facebook-sized ids and ordinary shop questions; Facebook's echoes come back from the Graph
 * API fake. The stream's entries and exact memory (MEMORY USAGE … SAMPLES 0, every shard) are
 * read once the replies and echoes settled (profile B of docs/capacity.md), and again after a
 * delivery and a read receipt for each message (profile C). docs/capacity.md turns these into
 * hours of headroom.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import Redis from 'ioredis';
import { encodeLikeFacebook } from '../src/channels/meta/signature';
import { FakeGraph } from '../src/dev/fake-graph';
import { APP_SECRET, VERIFY_TOKEN, postRaw } from '../test/helpers/fb';
import { startRole } from '../test/helpers/procs';
import type { BenchServers } from './env';

const PAGE = '109876543210987'; // page ids and PSIDs have 15–16 digits, mids ~86 characters
// Questions the bundled corpus answers (no handoff: a conversation in human mode gets no replies).
const TEXTS = ['hello', 'how long does shipping take to my address', 'what is your return policy', 'do you have the black hoodie in M', 'thanks a lot!', 'what payment methods do you accept'];
const SHARDS = 4;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const mid = () => `m_${crypto.randomBytes(63).toString('base64url').slice(0, 84)}`;

async function stream(redis: Redis, prefix: string): Promise<{ entries: number; bytes: number; json: number }> {
  let entries = 0;
  let bytes = 0;
  let json = 0;
  for (let s = 0; s < SHARDS; s++) {
    const key = `${prefix}:chatlog:{l${s}}`;
    entries += await redis.xlen(key);
    bytes += Number((await redis.memory('USAGE', key, 'SAMPLES', '0')) ?? 0);
    for (const [, fields] of await redis.xrange(key, '-', '+')) json += Buffer.byteLength(fields[1] ?? '');
  }
  return { entries, bytes, json };
}

/** Waits until the stream stops growing for a second (replies, echoes and receipts all in). */
async function settled(redis: Redis, prefix: string, atLeast: number): Promise<void> {
  let last = -1;
  for (let i = 0; i < 600; i++) {
    const n = (await stream(redis, prefix)).entries;
    if (n >= atLeast && n === last) return;
    last = n;
    await sleep(1_000);
  }
  throw new Error(`chatlog stream still growing (${last} entries)`);
}

export async function chatlogMemory(servers: BenchServers, quick: boolean): Promise<Record<string, number>> {
  const users = Array.from({ length: quick ? 50 : 200 }, (_, i) => String(7_000_000_000_000_000 + i));
  const perUser = quick ? 3 : 5;
  const dir = fs.mkdtempSync(path.join(servers.tmp, 'chatlog-memory-'));
  const pagesFile = path.join(dir, 'pages.json');
  fs.writeFileSync(pagesFile, JSON.stringify({ pages: [{ id: PAGE, accessToken: 'token-bench-page' }] }));
  const graph = new FakeGraph({ tokens: new Map([['token-bench-page', PAGE]]) });
  const prefix = `mem${Date.now() % 100000}`;
  const env = {
    NODE_ENV: 'test',
    BOT: 'dialog',
    BOT_MARK_SEEN: 'false',
    FB_APP_SECRET: APP_SECRET,
    FB_VERIFY_TOKEN: VERIFY_TOKEN,
    PAGES_FILE: pagesFile,
    GRAPH_API_URL: await graph.listen(),
    REDIS_URL: servers.redis.url,
    REDIS_PREFIX: prefix,
    CHATLOG_SHARDS: String(SHARDS),
    WORKER_POLL_MS: '5',
    LOG_LEVEL: 'warn',
  };
  const gateway = await startRole('mem-gateway', { ...env, ROLE: 'gateway', LOG_LEVEL: 'info' }).ready();
  const worker = await startRole('mem-worker', { ...env, ROLE: 'worker', LOG_LEVEL: 'info' }).ready(120_000);
  graph.setEcho({ webhookUrl: `${gateway.url}/webhook`, appSecret: APP_SECRET });
  const redis = new Redis(servers.redis.url);
  const post = async (messaging: unknown[]) => {
    const r = await postRaw(gateway.url, encodeLikeFacebook({ object: 'page', entry: [{ id: PAGE, time: Date.now(), messaging }] }));
    if (r.status !== 200) throw new Error(`webhook answered ${r.status}`);
  };
  try {
    for (let k = 0; k < perUser; k++) {
      for (let i = 0; i < users.length; i += 10) {
        await post(users.slice(i, i + 10).map((u, j) => ({ sender: { id: u }, recipient: { id: PAGE }, timestamp: Date.now(), message: { mid: mid(), text: TEXTS[(i + j + k) % TEXTS.length] } })));
      }
    }
    const messages = users.length * perUser;
    await settled(redis, prefix, messages * 3);
    const b = await stream(redis, prefix);
    for (let k = 0; k < perUser; k++) {
      for (let i = 0; i < users.length; i += 10) {
        const watermark = Date.now();
        await post(
          users.slice(i, i + 10).flatMap((u) => [
            { sender: { id: u }, recipient: { id: PAGE }, timestamp: watermark, delivery: { watermark } },
            { sender: { id: u }, recipient: { id: PAGE }, timestamp: watermark, read: { watermark } },
          ]),
        );
      }
    }
    await settled(redis, prefix, b.entries + messages * 2);
    const c = await stream(redis, prefix);
    const round = (n: number) => Math.round(n);
    return {
      messages,
      records_per_message_b: Number((b.entries / messages).toFixed(2)),
      json_bytes_per_record_b: round(b.json / b.entries),
      redis_bytes_per_record_b: round(b.bytes / b.entries),
      redis_bytes_per_message_b: round(b.bytes / messages),
      records_per_message_c: Number((c.entries / messages).toFixed(2)),
      redis_bytes_per_record_c: round(c.bytes / c.entries),
      redis_bytes_per_message_c: round(c.bytes / messages),
    };
  } finally {
    redis.disconnect();
    await Promise.all([gateway.stop(), worker.stop()]);
    await graph.close();
  }
}
