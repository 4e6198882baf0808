/**
 * Composes one process from the config: its Redis (or a private redis-server in dev mode),
 * the HTTP server, and the roles it runs. `stop()` drains in the order that loses nothing:
 * stop accepting webhooks, let workers finish their current events, then disconnect.
 */
import crypto from 'node:crypto';
import path from 'node:path';
import { buildChannels, buildIngresses, buildWebchat, loadChannels } from './channels/registry';
import type { Config } from './config';
import type express from 'express';
import { EchoBot, type BotHandler } from './bot/handler';
import { ActionRunner, type ActionSpec } from './bot/actions';
import { ContextStore } from './bot/context';
import { ConversationBot } from './bot/conversation';
import { Dialog } from './bot/dialog';
import { SentContents } from './bot/sent-contents';
import { adminRouter } from './admin/api';
import { adminUi } from './admin/ui';
import { LiveFeed } from './admin/live';
import { Sessions } from './admin/session';
import { canSee, watchUsersFile } from './admin/users';
import { conversationKey } from './channels/conversation';
import { FakeCommerce, orderStatusAction } from './dev/fake-commerce';
import { initialModel, NluService } from './nlu/service';
import { BUNDLED_CORPUS, mergeCorpora, readCorpus } from './nlu/corpus';
import { ModelStore } from './nlu/store';
import { Worker } from './bot/worker';
import { ConversationLocks } from './bot/lock';
import { DevPlatforms } from './dev/platforms';
import type { FakeGraph } from './dev/fake-graph';
import type { FakeLine } from './dev/fake-line';
import type { FakeWhatsApp } from './dev/fake-whatsapp';
import type { FakeInstagram } from './dev/fake-instagram';
import { startRedis, type RedisProcess } from './dev/redis-server';
import { ingest } from './gateway/ingest';
import { createHttpHandler } from './gateway/server';
import { listen } from './gateway/http-server';
import type { Logger } from './log';
import { createMetrics, type Metrics } from './metrics';
import { ConversationQueue } from './queue/queue';
import { connectRedis, remoteTarget, type RedisClient } from './queue/redis';
import { Sweeper } from './queue/sweeper';
import { Liveness } from './queue/liveness';
import { WakeUps } from './queue/wake';
import { ChatlogConsumer } from './chatlog/consumer';
import { migrate } from './chatlog/migrate';
import { pgliteClient, postgresClient, type SqlClient } from './chatlog/sql';
import { ChatlogStream } from './chatlog/stream';
import { Retention } from './chatlog/retention';
import { dataDeletionRouter } from './channels/meta/data-deletion';
import { GraphClient } from './channels/meta/graph';
import { idsForPages } from './channels/meta/ids-for-pages';
import { Forgetter } from './privacy/forgetter';
import { composeInbox } from './app-inbox';
import { filesRouter } from './admin/tools-api';

export interface App {
  port: number;
  metrics: Metrics;
  redis: RedisClient;
  queue: ConversationQueue;
  worker?: Worker;
  chatlog: ChatlogStream;
  /** The chatlog database, in the roles that write it. */
  db?: SqlClient;
  /** Dev mode only: the built-in Graph API emulator. */
  fakeGraph?: FakeGraph;
  /** Dev mode only (no LINE_API_URL): the built-in LINE Messaging API emulator, under /_dev/line. */
  fakeLine?: FakeLine;
  /** Dev mode only: the built-in WhatsApp Cloud API emulator (mounted into fakeGraph). */
  fakeWhatsApp?: FakeWhatsApp;
  /** Dev mode only: Instagram in the Graph API emulator (its accounts, echoes and `sendAsUser`). */
  fakeInstagram?: FakeInstagram;
  /** Dev mode only: the built-in shop API behind the order-status action. */
  fakeCommerce?: FakeCommerce;
  /** Worker role with BOT=dialog. */
  nlu?: NluService;
  /** The admin token in force (generated in dev mode when ADMIN_TOKEN is unset). */
  adminToken?: string;
  /** Gateway role with a web chat site: its sockets. */
  webchat?: NonNullable<ReturnType<typeof buildWebchat>>['gateway'];
  stop(): Promise<void>;
}

export interface AppOverrides {
  bot?: BotHandler;
}

const DEV_REDIS_PORT = 6390;

export async function startApp(config: Config, logger: Logger, overrides: AppOverrides = {}): Promise<App> {
  // Every account of every channel, checked before anything starts (a ConfigError names every problem).
  const loaded = loadChannels(config);
  let embedded: RedisProcess | undefined;
  if (config.redis.embedded) {
    embedded = await startRedis({ dir: path.join(config.dataDir, 'redis'), port: DEV_REDIS_PORT });
    logger.info({ port: embedded.port, dir: embedded.dir }, 'started a private redis-server (AOF on) for dev mode');
  }
  let lastRedisError = 0;
  const redis = await connectRedis(
    embedded ? { url: embedded.url, commandTimeoutMs: config.redis.commandTimeoutMs } : remoteTarget(config.redis),
    (err) => {
      if (Date.now() - lastRedisError > 5_000) {
        lastRedisError = Date.now();
        logger.warn({ err: err.message }, 'redis connection error');
      }
    },
    `cb-${config.role}`,
  );
  const metrics = createMetrics();
  const queue = new ConversationQueue(redis, {
    prefix: config.redis.prefix,
    shards: config.queue.shards,
    dedupeTtlMs: config.queue.dedupeTtlMs,
    maxPerConversation: config.queue.maxPerConversation,
    maxOverflow: config.queue.maxOverflow,
  });
  const { accounts } = loaded;
  let sending: ReturnType<typeof buildChannels> | undefined;
  const gateway = config.role === 'all' || config.role === 'gateway';
  const workerRole = config.role === 'all' || config.role === 'worker';
  const chatlog = new ChatlogStream(redis, config.redis.prefix, config.chatlog.shards);
  const inbox = composeInbox(config, { redis, chatlog, accounts, logger, metrics, channels: () => sending?.channels });

  let db: SqlClient | undefined;
  let consumer: ChatlogConsumer | undefined;
  let retention: Retention | undefined;
  if (config.role === 'chatlog' || (config.role === 'all' && config.chatlog.enabled)) {
    db = config.databaseUrl ? postgresClient(config.databaseUrl, (err) => logger.warn({ err: err.message }, 'postgres connection error')) : await pgliteClient(path.join(config.dataDir, 'pglite'));
    const applied = await migrate(db);
    logger.info({ applied, database: db.kind }, applied.length ? 'chatlog migrations applied' : 'chatlog schema up to date');
    consumer = new ChatlogConsumer(chatlog, db, config.chatlog, logger, metrics);
    await consumer.start();
    if (config.chatlog.retentionDays) {
      retention = new Retention(db, config.chatlog.retentionDays, logger);
      retention.start();
    }
  }

  // Dev mode: the built-in fakes of the platforms' send APIs the configuration does not name.
  const dev = new DevPlatforms(loaded, config, workerRole);
  const dialogBot = workerRole && config.bot.kind === 'dialog' && !overrides.bot;
  // Trained or loaded before the port opens: no message waits on a model being built.
  const models = new ModelStore(redis, config.redis.prefix);
  const nluOptions = { ...config.nlu, cacheDir: path.join(config.dataDir, 'nlu') };
  const nlu = dialogBot ? new NluService(await initialModel(nluOptions, models, logger), config.nlu, logger, metrics, models) : undefined;
  const fakeCommerce = dialogBot && !config.bot.actions && !config.production ? new FakeCommerce() : undefined;
  const contexts = new ContextStore(redis, config.redis.prefix, config.bot.contextTtlMs);
  let adminToken = config.adminToken;
  if (!adminToken && !config.production && gateway) {
    adminToken = crypto.randomBytes(18).toString('base64url');
    logger.warn(`ADMIN_TOKEN not set: this run's admin token is ${adminToken}`);
  }
  // The admin views read the chatlog: the chatlog role's database, or one of the gateway's own.
  let readDb = db;
  if (gateway && !readDb && config.databaseUrl) readDb = postgresClient(config.databaseUrl, (err) => logger.warn({ err: err.message }, 'postgres connection error (admin reads)'));
  const ownReadDb = readDb !== db;
  // Erasure on request needs Redis and the chatlog database (it records what it erased).
  const forgetter = gateway && readDb ? new Forgetter({ queue, db: readDb, logger, lockWaitMs: config.queue.lockTtlMs * 3 }) : undefined;
  const live = gateway && readDb ? new LiveFeed(readDb, logger, undefined, undefined, inbox.bus) : undefined;
  // A gateway without the NLU still offers the corpus's intents for label correction.
  let intentsOfCorpus: string[] | undefined;
  const corpusIntents = () =>
    (intentsOfCorpus ??= mergeCorpora((config.nlu.corpus?.split(',') ?? [BUNDLED_CORPUS]).map(readCorpus))
      .data.map((d) => d.intent)
      .sort());
  const mounts: [string, express.Router][] = [];
  // Web chat: widget files and sockets, on the gateway; its messages take the webhooks' path (ingest).
  const durability = config.redis.waitReplicas > 0 ? { durability: { replicas: config.redis.waitReplicas, timeoutMs: config.redis.waitTimeoutMs } } : {};
  const webchat = gateway ? buildWebchat(loaded, config, { redis, logger, metrics, ingest: (p) => ingest(p, { queue, chatlog, accounts, logger, metrics, ...durability }), record: (r) => chatlog.append(r) }) : undefined;
  if (webchat) {
    await webchat.gateway.start();
    mounts.push(['/webchat', webchat.router]);
  }
  let users: ReturnType<typeof watchUsersFile> | undefined;
  let idsGraph: GraphClient | undefined;
  if (gateway) {
    users = config.adminUsers && config.adminUsersFile ? watchUsersFile(config.adminUsersFile, new Map(config.adminUsers), logger, metrics) : undefined;
    users?.start();
    const sessions = adminToken || users ? new Sessions(redis, config.redis.prefix, adminToken, () => users?.current, metrics) : undefined;
    mounts.push([
      '/admin/api',
      adminRouter({
        ...(sessions ? { sessions } : {}),
        queue,
        contexts,
        accounts,
        logger,
        ...(readDb ? { db: readDb } : {}),
        ...(live ? { live } : {}),
        threshold: config.nlu.threshold,
        intents: () => nlu?.model.meta.intents ?? corpusIntents(),
        models,
        ...(config.nlu.corpus ? { corpus: config.nlu.corpus } : {}),
        ...(config.exportIdSecret ? { exportIdSecret: config.exportIdSecret } : {}),
        metrics,
        ...(forgetter ? { forgetter } : {}),
        ...(config.chatlog.retentionDays ? { retentionDays: config.chatlog.retentionDays } : {}),
        inbox: inbox.admin({ users: () => users?.current, port: () => port }),
        ...(webchat ? { presence: webchat.gateway } : {}),
      }),
    ]);
    // Web chat visitors coming, going and typing stream to the admin app with the messages.
    webchat?.gateway.subscribe((c) => live?.broadcast('presence', { ...c, key: conversationKey(c) }, (p) => canSee(p, c.channel, c.account)));
    mounts.push(['/files', filesRouter(inbox.files)]);
    mounts.push(['/admin', adminUi()]);
    // With FB_APP_ID, Meta's app-scoped user id is resolved to the user's page-scoped ids (a client made on first use: dev mode's emulator URL needs the port).
    const appId = config.fb.appId;
    const messenger = appId
      ? {
          pageScopedIds: (asid: string) =>
            idsForPages((idsGraph ??= new GraphClient({ baseUrl: dev.urls.graphApiUrl, timeoutMs: config.send.timeoutMs, maxAttempts: 1, backoffBaseMs: 0, backoffMaxMs: 0 })), { id: appId, secret: config.fb.appSecret }, asid),
          serves: (page: string) => accounts.serves('messenger', page),
        }
      : undefined;
    mounts.push(['/facebook/data-deletion', dataDeletionRouter({ appSecret: config.fb.appSecret, ...(forgetter ? { forgetter } : {}), ...(readDb ? { db: readDb } : {}), logger, ...(messenger ? { messenger } : {}) })]);
  }
  mounts.push(...dev.mounts(gateway));
  if (fakeCommerce) mounts.push(['/_dev/shop', fakeCommerce.router()]);
  const ingresses = gateway ? buildIngresses(loaded, config, { metrics, logger }) : [];
  const http = await listen(createHttpHandler({ config, logger, metrics, redis, accounts, ingresses, chatlog, ...(gateway ? { queue } : {}), mounts }), {
    port: config.port,
    host: config.host,
    requestTimeoutMs: config.http.requestTimeoutMs,
  });
  const port = http.port;
  http.server.on('upgrade', (req, socket, head) => {
    if (!webchat?.gateway.upgrade(req, socket, head)) socket.end('HTTP/1.1 404 Not Found\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
  });
  dev.listening(port, gateway);

  let worker: Worker | undefined;
  let sweeper: Sweeper | undefined;
  let liveness: Liveness | undefined;
  let workerId: string | undefined;
  // Gateways send too: agents' typing indicators (the inbox), not replies.
  if (workerRole || gateway) {
    sending = buildChannels(loaded, config, {
      ...dev.urls,
      webchat: { redis, logger, metrics },
      onAlreadyAccepted: (channel, ctx) => {
        metrics.alreadyAccepted.inc({ channel });
        logger.info({ channel, account: ctx.to.account, mid: ctx.ref.event, reply: ctx.ref.index }, 'the platform had already accepted this send (a resend after a crash or a lost answer): counted as sent, not sent twice');
      },
      onRetry: (err, delayMs) => {
        metrics.sendRetries.inc({ channel: err.context.channel });
        logger.info({ channel: err.context.channel, code: err.code, attempts: err.context.attempts, delayMs, account: err.context.account }, 'send API call failed: retrying');
      },
    });
  }
  if (workerRole) {
    const locks = new ConversationLocks(redis, config.queue.lockTtlMs, logger, metrics);
    workerId = locks.worker;
    let bot: BotHandler = overrides.bot ?? new EchoBot();
    if (nlu) {
      const actions: ReadonlyMap<string, ActionSpec> = config.bot.actions ?? new Map(fakeCommerce ? [['order.status', orderStatusAction(`http://127.0.0.1:${port}/_dev/shop`)]] : []);
      const dialog = new Dialog({ nlu, actions, runner: new ActionRunner(), logger, metrics });
      bot = new ConversationBot(dialog, contexts, config.bot, logger, metrics, {
        inbox: inbox.inbox,
        accounts,
        channels: () => sending!.channels,
        queue,
        logger,
        metrics,
        profiles: inbox.profiles,
        suggestions: inbox.suggestions,
        contents: new SentContents(redis, config.redis.prefix),
        latest: inbox.latest,
      });
      nlu.start();
      logger.info({ model: nlu.model.version, threshold: config.nlu.threshold, actions: [...actions.keys()] }, 'dialog bot ready');
    }
    const wake = new WakeUps(redis, queue.keys.wake, logger);
    worker = new Worker({ queue, locks, channels: sending!.channels, bot, logger, metrics, config, chatlog, wake });
    if (config.worker.deadAfterMs > 0) {
      liveness = new Liveness(queue, workerId, config.worker.deadAfterMs, config.queue.lockTtlMs, logger, metrics);
      liveness.start();
    }
    worker.start();
    sweeper = new Sweeper(queue, config.queue.sweepIntervalMs, logger, metrics);
    sweeper.start();
    inbox.startJanitor(queue);
    dev.log(logger);
  }
  logger.info({ role: config.role, port, redis: embedded ? embedded.url : config.redis.clusterNodes ? 'cluster' : 'standalone', ...(workerId ? { worker: workerId } : {}) }, 'ready');

  return {
    port,
    metrics,
    redis,
    queue,
    chatlog,
    ...(db ? { db } : {}),
    ...(worker ? { worker } : {}),
    ...(dev.graph ? { fakeGraph: dev.graph } : {}),
    ...(dev.line ? { fakeLine: dev.line } : {}),
    ...(dev.whatsapp ? { fakeWhatsApp: dev.whatsapp } : {}),
    ...(dev.instagram ? { fakeInstagram: dev.instagram } : {}),
    ...(fakeCommerce ? { fakeCommerce } : {}),
    ...(nlu ? { nlu } : {}),
    ...(adminToken ? { adminToken } : {}),
    ...(webchat ? { webchat: webchat.gateway } : {}),
    async stop() {
      nlu?.stop();
      live?.stop();
      users?.stop();
      // Stop taking webhooks first (POSTs that arrived whole finish; web chat widgets are told to reconnect elsewhere), then drain the workers.
      await webchat?.gateway.stop();
      // The heartbeat goes on while the worker drains: a draining worker is not dead.
      await Promise.all([http.close(), worker?.stop().then(() => liveness?.stop()), sweeper?.stop()]);
      await inbox.stop();
      sending?.close();
      idsGraph?.close();
      await retention?.stop();
      await dev.close();
      await consumer?.stop(); // after the workers: their last records get written too
      await db?.close();
      if (ownReadDb) await readDb?.close();
      await redis.quit().catch(() => redis.disconnect());
      await embedded?.stop();
    },
  };
}
