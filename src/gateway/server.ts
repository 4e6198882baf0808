/**
 * The HTTP face of every role: the platforms' webhooks (gateway role), health, readiness and
 * Prometheus metrics. A webhook answers only after its events are durably queued and never
 * waits for bot work.
 */
import type { RequestListener } from 'node:http';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { AccountDirectory } from '../channels/accounts';
import type { Ingress } from '../channels/channel';
import type { Config } from '../config';
import type { Logger } from '../log';
import type { Metrics } from '../metrics';
import type { ConversationQueue } from '../queue/queue';
import type { RedisClient } from '../queue/redis';
import { overflowStats } from '../queue/sweeper';
import { pathOf, webhookHandler } from './webhook';
import type { ChatlogStream } from '../chatlog/stream';

export interface HttpDeps {
  config: Config;
  logger: Logger;
  metrics: Metrics;
  redis: RedisClient;
  /** Present in the gateway role only. */
  queue?: ConversationQueue;
  chatlog: ChatlogStream;
  accounts: AccountDirectory;
  /** The platforms that call us over HTTP (gateway role). */
  ingresses: readonly Ingress[];
  /** Extra routers mounted before the 404 handler (admin API, dev-mode emulators). */
  mounts?: [string, express.Router][];
}

const withTimeout = <T>(p: Promise<T>, ms: number): Promise<T> => Promise.race([p, new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms).unref())]);

function createHttpApp(deps: HttpDeps): express.Express {
  const { config, logger, metrics, redis, queue } = deps;
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  // Who the client is (req.ip), for the admin sign-in limits: without it, behind an Ingress
  // every client would be the proxy's address and share one limit.
  const trust = config.trustProxy;
  app.set('trust proxy', Array.isArray(trust) ? [...trust] : trust);

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });

  app.get('/readyz', async (_req, res) => {
    try {
      await withTimeout(redis.ping(), 1_000);
      res.json({ status: 'ready' });
    } catch (err) {
      res.status(503).json({ status: 'unavailable', error: `redis: ${(err as Error).message}` });
    }
  });

  app.get('/metrics', async (_req, res) => {
    // Every role can see the chatlog stream fill up, the chatlog role's own absence included.
    try {
      const b = await withTimeout(deps.chatlog.backlog(), 1_000);
      metrics.chatlogStreamEntries.set(b.entries);
      metrics.chatlogStreamBytes.set(b.bytes);
    } catch (err) {
      logger.warn({ err }, 'chatlog stream gauges not refreshed: redis unavailable');
    }
    if (queue) {
      try {
        const [s, o] = await withTimeout(Promise.all([queue.pendingStats(), overflowStats(queue)]), 1_000);
        metrics.queuePending.set(s.conversations);
        metrics.queueOldest.set(s.oldestMs / 1000);
        metrics.overflowWaiting.set(o.events);
        metrics.overflowConversations.set(o.conversations);
      } catch (err) {
        logger.warn({ err }, 'queue gauges not refreshed: redis unavailable');
      }
    }
    // An async express 4 handler's rejection is nobody's: it would end the process.
    metrics.registry.metrics().then(
      (text) => res.type(metrics.registry.contentType).send(text),
      (err) => {
        logger.error({ err }, 'metrics not rendered');
        res.status(500).json({ error: 'metrics could not be rendered' });
      },
    );
  });

  if (queue) {
    for (const ingress of deps.ingresses) {
      if (!ingress.handshake) continue;
      app.get(ingress.path, (req, res) => {
        const answer = ingress.handshake!(req.query as Record<string, unknown>);
        if (answer.status === 200) {
          logger.info({ path: ingress.path }, 'webhook verified by the handshake');
          res.type('text/plain').send(answer.body);
        } else res.status(answer.status).json(answer.body);
      });
    }
    // POSTs to the ingresses never reach express: see createHttpHandler.
  }

  for (const [at, router] of deps.mounts ?? []) app.use(at, router);

  app.use((_req, res) => {
    res.status(404).json({ error: 'not found' });
  });

  // body-parser errors (oversize, aborted, bad encoding) and anything unexpected.
  app.use((err: Error & { status?: number; type?: string }, req: Request, res: Response, _next: NextFunction) => {
    const status = err.status && err.status >= 400 && err.status < 600 ? err.status : 500;
    const message = err.type === 'entity.too.large' ? `body larger than the limit of ${config.webhook.bodyLimitBytes} bytes` : status === 500 ? 'internal error' : err.message;
    if (deps.ingresses.some((i) => i.path === req.path)) metrics.webhookRequests.inc({ status: String(status) });
    if (status >= 500) logger.error({ err, path: req.path }, `request failed: ${message}`);
    else logger.warn({ path: req.path, status, error: message }, `request rejected: ${message}`);
    // An oversize body is not read to its end: the connection closes after the answer.
    if (!res.headersSent)
      res
        .status(status)
        .set(status === 413 ? { connection: 'close' } : {})
        .json({ error: message });
  });
  return app;
}

/** The HTTP server's listener: POSTs to an ingress path straight to its handler (gateway role), everything else to express. */
export function createHttpHandler(deps: HttpDeps): RequestListener {
  const app = createHttpApp(deps);
  const { queue } = deps;
  if (!queue) return app;
  const common = {
    queue,
    chatlog: deps.chatlog,
    accounts: deps.accounts,
    logger: deps.logger,
    metrics: deps.metrics,
    bodyLimitBytes: deps.config.webhook.bodyLimitBytes,
    ...(deps.config.redis.waitReplicas > 0 ? { durability: { replicas: deps.config.redis.waitReplicas, timeoutMs: deps.config.redis.waitTimeoutMs } } : {}),
  };
  const hooks = new Map(deps.ingresses.map((i) => [i.path, webhookHandler(i, common)]));
  return (req, res) => {
    const hook = req.method === 'POST' ? hooks.get(pathOf(req)) : undefined;
    if (hook) hook(req, res);
    else app(req, res);
  };
}
