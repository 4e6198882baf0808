/** A running pipeline for end-to-end tests: gateway and workers as processes, a fake Graph API here. */
import fs from 'node:fs';
import path from 'node:path';
import { FakeGraph } from '../../src/dev/fake-graph';
import { connectRedis, masters } from '../../src/queue/redis';
import { encodeLikeFacebook, sign } from '../../src/channels/meta/signature';
import { conversationKey } from '../../src/channels/conversation';
import { APP_SECRET, VERIFY_TOKEN, body, postRaw, text } from './fb';
import { tmpDir, uniquePrefix } from './env';
import { startRole, type RoleProcess } from './procs';
import { waitUntil } from './wait';

export const PAGES = ['101', '102', '103', '104'];

export interface Pipeline {
  graph: FakeGraph;
  gateway: RoleProcess;
  workers: RoleProcess[];
  env: Record<string, string>;
  prefix: string;
  startWorker(name: string): Promise<RoleProcess>;
  chatlog?: RoleProcess;
  stop(): Promise<void>;
}

export async function startPipeline(label: string, redisEnv: Record<string, string>, opts: { workers?: number; env?: Record<string, string>; databaseUrl?: string; dir?: string; nodeArgs?: string[] } = {}): Promise<Pipeline> {
  const dir = opts.dir ?? tmpDir(label);
  fs.mkdirSync(dir, { recursive: true });
  const pagesFile = path.join(dir, 'pages.json');
  fs.writeFileSync(pagesFile, JSON.stringify({ pages: PAGES.map((id) => ({ id, accessToken: `token-${id}` })) }));
  const graph = new FakeGraph({ tokens: new Map(PAGES.map((id) => [`token-${id}`, id])) });
  const graphUrl = await graph.listen();
  const prefix = uniquePrefix(label);
  const env = {
    NODE_ENV: 'test',
    BOT: 'echo', // the ordered core under test; test/e2e/dialog.test.ts runs the dialog bot
    FB_APP_SECRET: APP_SECRET,
    FB_VERIFY_TOKEN: VERIFY_TOKEN,
    PAGES_FILE: pagesFile,
    GRAPH_API_URL: graphUrl,
    REDIS_PREFIX: prefix,
    LOCK_TTL_MS: '2000',
    SEND_ECHO_GRACE_MS: '5000', // the production default: shorter than Facebook's (or this box's) late deliveries would duplicate
    WORKER_POLL_MS: '5',
    SWEEP_INTERVAL_MS: '5000',
    SEND_BACKOFF_BASE_MS: '20',
    SEND_RETRY_LATER_MS: '300',
    ...redisEnv,
    ...opts.env,
  };
  const gateway = await startRole(`${label}-gateway`, { ...env, ROLE: 'gateway' }, opts.nodeArgs).ready();
  graph.setEcho({ webhookUrl: `${gateway.url}/webhook`, appSecret: APP_SECRET });
  const workers: RoleProcess[] = [];
  const startWorker = async (name: string) => {
    const w = await startRole(`${label}-${name}`, { ...env, ROLE: 'worker' }, opts.nodeArgs).ready();
    workers.push(w);
    return w;
  };
  await Promise.all(Array.from({ length: opts.workers ?? 2 }, (_, i) => startWorker(`worker${i + 1}`)));
  const chatlog = opts.databaseUrl ? await startRole(`${label}-chatlog`, { ...env, ROLE: 'chatlog', DATABASE_URL: opts.databaseUrl, CHATLOG_POLL_MS: '20' }).ready() : undefined;
  return {
    graph,
    gateway,
    workers,
    ...(chatlog ? { chatlog } : {}),
    env,
    prefix,
    startWorker,
    async stop() {
      await Promise.all([gateway, ...workers, ...(chatlog ? [chatlog] : [])].map((p) => p.stop()));
      await graph.close();
    },
  };
}

export interface Load {
  /** Per user (page:user): the inbound mids in the order the user sent them. */
  expected: Map<string, string[]>;
  posts: number;
  redelivered: number;
}

function shuffle<T>(a: T[]): T[] {
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

async function pool<T>(items: T[], limit: number, fn: (t: T) => Promise<void>): Promise<void> {
  let i = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (i < items.length) await fn(items[i++]!);
    }),
  );
}

/** One user message of a load: what a driver puts in a platform's webhook POST. */
export interface LoadMessage {
  account: string;
  user: string;
  /** The platform's message id: the id the bot's replies name. */
  id: string;
  ts: number;
  text: string;
}

/** A platform as the load generator and the audit see it: how messages are POSTed, and what replies its fake got. */
export interface LoadDriver {
  channel: string;
  accounts: readonly string[];
  /** The webhook POSTs carrying these messages, batched as the platform batches them. */
  posts(messages: LoadMessage[]): { path: string; raw: string | Buffer; headers: Record<string, string> }[];
  /** Every reply the fake received, per conversation key, in order: the event each answers and its index. */
  replies(): Map<string, { event: string; index: number }[]>;
  /** Total message sends the fake received (duplicates included). */
  sent(): number;
}

/** Messenger through the fake Graph API: POST /webhook signed like Facebook, replies named by their metadata. */
export function messengerDriver(graph: FakeGraph, accounts: readonly string[] = PAGES, batch = 10): LoadDriver {
  return {
    channel: 'messenger',
    accounts,
    posts: (messages) => {
      const out = [];
      for (let i = 0; i < messages.length; i += batch) {
        const raw = encodeLikeFacebook(body(messages.slice(i, i + batch).map((m) => text(m.account, m.user, m.ts, m.id, m.text))));
        out.push({ path: '/webhook', raw, headers: { 'x-hub-signature-256': sign(raw, APP_SECRET) } });
      }
      return out;
    },
    replies: () => {
      const got = new Map<string, { event: string; index: number }[]>();
      for (const c of graph.calls) {
        if (!c.metadata?.mid) continue;
        const key = `${c.pageId}:${c.recipientId}`;
        got.set(key, [...(got.get(key) ?? []), { event: c.metadata.mid, index: c.metadata.i ?? 0 }]);
      }
      return got;
    },
    sent: () => graph.messages.length,
  };
}

const driverOf = (d: LoadDriver | FakeGraph): LoadDriver => (d instanceof FakeGraph ? messengerDriver(d) : d);

/**
 * A sendLoad `onRound` that SIGKILLs `victim` once, mid-run: at round `round`, as soon as
 * `flowing()` says replies are going out (so the victim holds conversations it is answering).
 * `killed` says whether it happened.
 */
export function killAtRound(victim: RoleProcess, round: number, flowing: () => boolean): { readonly killed: boolean; onRound: (k: number) => Promise<void> } {
  let killed = false;
  return {
    get killed() {
      return killed;
    },
    onRound: async (k) => {
      if (k !== round || killed) return;
      killed = true;
      await waitUntil('replies flowing', flowing, 60_000);
      await victim.kill('SIGKILL');
    },
  };
}

/**
 * Sends `perUser` messages for each of `users` conversations spread over the driver's
 * accounts (Messenger's pages by default). Round k carries every user's k-th message, users
 * shuffled across batched POSTs of several accounts; a user's next message goes out only
 * after the POST with the previous one was acknowledged (as the platforms deliver).
 * `redeliver` of the POSTs are sent again, some at once, some later.
 */
export async function sendLoad(
  url: string,
  o: { users: number; perUser: number; batch?: number; redeliver?: number; concurrency?: number; driver?: LoadDriver; userPrefix?: string; onRound?: (k: number) => Promise<void> | void },
): Promise<Load> {
  const driver = o.driver ?? messengerDriver(new FakeGraph(), PAGES, o.batch ?? 10);
  const expected = new Map<string, string[]>();
  const users = Array.from({ length: o.users }, (_, i) => ({ account: driver.accounts[i % driver.accounts.length]!, user: `${o.userPrefix ?? 'u'}${i}` }));
  const later: { path: string; raw: string | Buffer; headers: Record<string, string> }[] = [];
  let posts = 0;
  let redelivered = 0;
  const base = Date.now();
  const send = async (x: { path: string; raw: string | Buffer; headers: Record<string, string> }) => {
    for (let attempt = 0; ; attempt++) {
      const r = await postRaw(url, x.raw, { unsigned: true, path: x.path, headers: x.headers });
      posts++;
      if (r.status === 200) return;
      if (attempt > 300) throw new Error(`POST kept failing: ${r.status} ${JSON.stringify(r.body)}`);
      await new Promise((res) => setTimeout(res, 100)); // platforms retry what was not acknowledged (for up to 30 s here)
    }
  };
  for (let k = 0; k < o.perUser; k++) {
    const messages = shuffle(
      users.map(({ account, user }): LoadMessage => {
        const id = `m_${account}_${user}_${k}`;
        const key = conversationKey({ channel: driver.channel, account, user });
        expected.set(key, [...(expected.get(key) ?? []), id]);
        return { account, user, id, ts: base + k * 1000 + Math.floor(Math.random() * 500), text: `message ${k} from ${user} — ünïcødé` };
      }),
    );
    await pool(driver.posts(messages), o.concurrency ?? 16, async (x) => {
      await send(x);
      if (Math.random() < (o.redeliver ?? 0)) {
        redelivered++;
        if (Math.random() < 0.5) await send(x);
        else later.push(x);
      }
    });
    await o.onRound?.(k);
  }
  await pool(later, 8, send);
  return { expected, posts, redelivered };
}

/** Checks what a platform's fake received against what users sent: order, duplicates, losses. */
export function audit(target: LoadDriver | FakeGraph, expected: Map<string, string[]>): { violations: string[]; duplicates: number; lost: number; outOfOrder: number } {
  // Per user: the replies in the order the platform got them, each named by the message it answers and its index.
  const got = driverOf(target).replies();
  const violations: string[] = [];
  let duplicates = 0;
  let lost = 0;
  let outOfOrder = 0;
  for (const [key, mids] of expected) {
    const replies = got.get(key) ?? [];
    duplicates += replies.length - new Set(replies.map((r) => `${r.event}#${r.index}`)).size;
    const answered = new Set(replies.map((r) => r.event));
    lost += mids.filter((m) => !answered.has(m)).length;
    // In order: the messages answered appear in the order sent, never interleaved.
    const sequence = replies.map((r) => r.event).filter((m, i, a) => i === 0 || a[i - 1] !== m);
    const order = mids.filter((m) => answered.has(m));
    if (sequence.join() !== order.join()) {
      outOfOrder++;
      violations.push(`${key}: expected ${order.join(' ')} got ${replies.map((r) => `${r.event}#${r.index}`).join(' ')}`);
    }
  }
  return { violations: violations.slice(0, 5), duplicates, lost, outOfOrder };
}

/** Waits until every expected reply arrived (duplicates do not count), or the timeout. */
export async function waitForReplies(target: LoadDriver | FakeGraph, expected: Map<string, string[]>, timeoutMs: number): Promise<void> {
  const driver = driverOf(target);
  const want = new Set([...expected.values()].flat());
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    const got = new Set([...driver.replies().values()].flat().map((r) => r.event));
    if ([...want].every((m) => got.has(m))) return;
    await new Promise((r) => setTimeout(r, 100));
  }
}

const DIAGNOSTIC = /^cb_(send_retries_total|send_errors_total|send_unconfirmed_total|lock_contention_total|fenced_total|sweeper_requeued_total|duplicates_total)/;

/** Warnings, errors and retry logs of the roles, and their recovery counters: shown when an invariant fails. */
export async function problems(p: Pipeline, max = 25): Promise<string> {
  const roles = [p.gateway, ...p.workers, ...(p.chatlog ? [p.chatlog] : [])];
  const logs = roles.flatMap((r) => r.output.filter((l) => /"level":(40|50|60)|retrying/.test(l)).map((l) => `${r.name}: ${l.slice(0, 400)}`)).slice(0, max);
  const counters = await Promise.all(
    roles.map(async (r) => {
      // A role killed by a signal has no exit code: a failed fetch is what says it is gone.
      const text =
        r.child.exitCode === null
          ? await fetch(`${r.url}/metrics`)
              .then((res) => res.text())
              .catch(() => '')
          : '';
      return `${r.name}: ${text
        .split('\n')
        .filter((l) => DIAGNOSTIC.test(l))
        .join('; ')}`;
    }),
  );
  return [...logs, ...counters].join('\n');
}

/** Queues and locks still in Redis after a run (`tag`: a glob of the conversations to look at): a clean drain leaves none. */
export async function leftovers(p: Pipeline, target: { url?: string; clusterNodes?: { host: string; port: number }[] }, tag = '*'): Promise<string[]> {
  const redis = await connectRedis({ ...target, commandTimeoutMs: 2_000 }, () => undefined);
  try {
    return (await Promise.all(masters(redis).flatMap((m) => [m.keys(`${p.prefix}:{${tag}}:q`), m.keys(`${p.prefix}:{${tag}}:lock`)]))).flat();
  } finally {
    redis.disconnect();
  }
}
