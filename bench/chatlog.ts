/**
 * Chatlog benchmarks. Ingest: a stream pre-filled with message records (half inbound, half
 * replies, over many conversations) drained by one consumer into a durable PostgreSQL;
 * baseline in the same run: the same rows bulk-inserted into a bare table (no indexes,
 * no upsert, no counters). Lag: records appended at a steady rate while the consumer runs.
 */
import { ChatlogConsumer } from '../src/chatlog/consumer';
import { migrate } from '../src/chatlog/migrate';
import type { MessageRecord } from '../src/chatlog/records';
import { postgresClient } from '../src/chatlog/sql';
import { ChatlogStream } from '../src/chatlog/stream';
import { createLogger } from '../src/log';
import { createMetrics } from '../src/metrics';
import { connectRedis } from '../src/queue/redis';
import type { BenchServers } from './env';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function records(count: number, offset: number, conversations: number): MessageRecord[] {
  const out: MessageRecord[] = [];
  const t = Date.now();
  for (let i = offset; i < offset + count; i += 2) {
    const user = `u${i % conversations}`;
    out.push({
      t: 'msg',
      channel: 'messenger',
      account: 'bench',
      user,
      mid: `in-${i}`,
      direction: 'in',
      kind: 'text',
      text: `message number ${i} about my order`,
      platformTs: t,
      receivedAt: t,
      enqueuedAt: t + 1,
      startedAt: t + 2,
      sendMs: 3,
      repliedAt: t + 5,
    });
    out.push({
      t: 'msg',
      channel: 'messenger',
      account: 'bench',
      user,
      mid: `out-${i}`,
      direction: 'out',
      kind: 'text',
      text: `You said: message number ${i}`,
      replyToMid: `in-${i}`,
      replyIndex: 0,
      startedAt: t + 2,
      sendMs: 3,
      repliedAt: t + 5,
      platformTs: t + 5,
    });
  }
  return out;
}

async function setup(servers: BenchServers, label: string) {
  const url = await servers.pg.createDatabase(`bench_${label}_${Date.now() % 100000}`);
  const db = postgresClient(url, () => undefined);
  await migrate(db);
  const redis = await connectRedis({ url: servers.redis.url, commandTimeoutMs: 10_000 }, () => undefined);
  const stream = new ChatlogStream(redis, `bench${label}${Date.now() % 100000}`, 4);
  return { db, redis, stream };
}

export async function chatlogIngest(servers: BenchServers, quick: boolean): Promise<Record<string, number>> {
  const total = quick ? 20_000 : 100_000;
  const { db, redis, stream } = await setup(servers, 'ingest');
  try {
    for (let i = 0; i < total; i += 5_000) await stream.append(records(5_000, i, Math.max(100, total / 20)));
    const consumer = new ChatlogConsumer(stream, db, { batchSize: 1_000, pollMs: 5, claimIdleMs: 60_000 }, createLogger('silent'), createMetrics());
    const t0 = performance.now();
    await consumer.start();
    while ((await consumer.lagMs()) > 0 && (await Promise.all([0, 1, 2, 3].map((s) => redis.xlen(stream.key(s))))).some((n) => n > 0)) await sleep(20);
    const seconds = (performance.now() - t0) / 1000;
    await consumer.stop();
    const rows = Number((await db.query<{ n: string }>('SELECT count(*) n FROM messages'))[0]!.n);
    if (rows !== total) throw new Error(`chatlog ingest wrote ${rows} rows, expected ${total}`);

    // Baseline: the same rows, bulk-inserted in batches of 1,000 into a bare table.
    await db.exec('CREATE TABLE bare (page_id text, mid text, direction text, kind text, text text, reply_to_mid text, platform_ts timestamptz, received_at timestamptz, replied_at timestamptz)');
    const all = records(total, 0, total / 20);
    const b0 = performance.now();
    for (let i = 0; i < all.length; i += 1_000) {
      const chunk = all.slice(i, i + 1_000).map((r) => ({ page_id: r.account, mid: r.mid, direction: r.direction, kind: r.kind, text: r.text, reply_to_mid: r.replyToMid ?? null, at: r.platformTs }));
      await db.query(
        `INSERT INTO bare SELECT page_id, mid, direction, kind, text, reply_to_mid, to_timestamp(at / 1000.0), to_timestamp(at / 1000.0), to_timestamp(at / 1000.0)
         FROM jsonb_to_recordset($1::jsonb) AS x(page_id text, mid text, direction text, kind text, text text, reply_to_mid text, at float8)`,
        [JSON.stringify(chunk)],
      );
    }
    const baseSeconds = (performance.now() - b0) / 1000;
    const rowsPerSec = total / seconds;
    const baselineRowsPerSec = total / baseSeconds;
    return { rows: total, rows_per_s: Math.round(rowsPerSec), baseline_bulk_insert_rows_per_s: Math.round(baselineRowsPerSec), ratio_to_baseline: Number((rowsPerSec / baselineRowsPerSec).toFixed(2)) };
  } finally {
    await db.close();
    redis.disconnect();
  }
}

export async function chatlogLag(servers: BenchServers, quick: boolean): Promise<Record<string, number>> {
  const seconds = quick ? 5 : 20;
  const messagesPerSecond = 1_000;
  const { db, redis, stream } = await setup(servers, 'lag');
  const consumer = new ChatlogConsumer(stream, db, { batchSize: 500, pollMs: 20, claimIdleMs: 60_000 }, createLogger('silent'), createMetrics());
  await consumer.start();
  const lags: number[] = [];
  try {
    const t0 = Date.now();
    let sent = 0;
    const sampler = setInterval(() => void consumer.lagMs().then((l) => lags.push(l)), 100);
    // Each message is two records (inbound + reply), appended every 10 ms as the workers would.
    while (Date.now() - t0 < seconds * 1000) {
      const due = Math.floor(((Date.now() - t0) / 1000) * messagesPerSecond);
      if (due > sent) {
        await stream.append(records((due - sent) * 2, sent * 2, 1_000));
        sent = due;
      }
      await sleep(10);
    }
    clearInterval(sampler);
    await sleep(2_000);
    await consumer.stop();
    lags.sort((a, b) => a - b);
    const q = (p: number) => lags[Math.min(lags.length - 1, Math.floor(p * lags.length))] ?? 0;
    return { messages_per_s: messagesPerSecond, records_per_s: messagesPerSecond * 2, seconds, lag_p50_ms: q(0.5), lag_p99_ms: q(0.99), lag_max_ms: lags[lags.length - 1] ?? 0 };
  } finally {
    await db.close();
    redis.disconnect();
  }
}

/**
 * Chatlog completeness after an end-to-end run: waits (up to `timeoutMs`) for `want` message
 * rows (each message and its reply), then counts what is missing and any reply written twice.
 */
export async function chatlogCompleteness(dbUrl: string, want: number, timeoutMs: number): Promise<{ chatlog_rows_missing: number; chatlog_duplicate_reply_rows: number }> {
  const db = postgresClient(dbUrl, () => undefined);
  try {
    let rows = 0;
    for (const end = Date.now() + timeoutMs; rows < want && Date.now() < end; ) {
      rows = Number((await db.query<{ n: string }>('SELECT count(*) n FROM messages').catch(() => [{ n: '0' }]))[0]!.n);
      if (rows < want) await sleep(1_000);
    }
    const dupRows = Number((await db.query<{ n: string }>("SELECT count(*) n FROM (SELECT reply_to_mid FROM messages WHERE direction = 'out' AND error IS NULL GROUP BY reply_to_mid, reply_index HAVING count(*) > 1) d"))[0]!.n);
    return { chatlog_rows_missing: Math.max(0, want - rows), chatlog_duplicate_reply_rows: dupRows };
  } finally {
    await db.close();
  }
}
