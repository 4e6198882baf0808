/**
 * The HTTP face of every role: the Messenger webhook (gateway role), health, readiness and
 * Prometheus metrics. The webhook answers only after its events are durably queued and
 * never waits for bot work.
 */
import type { RequestListener } from 'node:http';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { PageDirectory } from '../channels/messenger/pages';
import type { Config } from '../config';
import type { Logger } from '../log';
import type { Metrics } from '../metrics';
import type { ConversationQueue } from '../queue/queue';
import type { RedisClient } from '../queue/redis';
import { isWebhookPost, webhookHandler } from './webhook';
import { safeEqual } from '../lib/safe-equal';
import type { ChatlogStream } from '../chatlog/stream';

export interface HttpDeps {
  config: Config;
  logger: Logger;
  metrics: Metrics;
  redis: RedisClient;
  /** Present in the gateway role only. */
  queue?: ConversationQueue;
  chatlog: ChatlogStream;
  pages: PageDirectory;
  /** Extra routers mounted before the 404 handler (admin API, dev-mode emulators). */
  mounts?: [string, express.Router][];
}

const withTimeout = <T>(p: Promise<T>, ms: number): Promise<T> =>
  Promise.race([p, new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms).unref())]);

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
    if (queue) {
      try {
        const s = await withTimeout(queue.pendingStats(), 1_000);
        metrics.queuePending.set(s.conversations);
        metrics.queueOldest.set(s.oldestMs / 1000);
      } catch (err) {
        logger.warn({ err }, 'queue gauges not refreshed: redis unavailable');
      }
    }
    res.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });

  if (queue) {
    app.get('/webhook', (req, res) => {
      const mode = req.query['hub.mode'];
      const token = req.query['hub.verify_token'];
      const challenge = req.query['hub.challenge'];
      if (mode === 'subscribe' && typeof token === 'string' && typeof challenge === 'string' && safeEqual(token, config.fb.verifyToken)) {
        logger.info('webhook verified by the handshake');
        res.type('text/plain').send(challenge);
        return;
      }
      res.status(403).json({ error: 'webhook verification failed: hub.mode must be subscribe and hub.verify_token must match FB_VERIFY_TOKEN' });
    });

    // POST /webhook never reaches express: see createHttpHandler.
  }

  for (const [at, router] of deps.mounts ?? []) app.use(at, router);

  app.use((_req, res) => {
    res.status(404).json({ error: 'not found' });
  });

  // body-parser errors (oversize, aborted, bad encoding) and anything unexpected.
  app.use((err: Error & { status?: number; type?: string }, req: Request, res: Response, _next: NextFunction) => {
    const status = err.status && err.status >= 400 && err.status < 600 ? err.status : 500;
    const message = err.type === 'entity.too.large' ? `body larger than the limit of ${config.webhook.bodyLimitBytes} bytes` : status === 500 ? 'internal error' : err.message;
    if (req.path === '/webhook') metrics.webhookRequests.inc({ status: String(status) });
    if (status >= 500) logger.error({ err, path: req.path }, `request failed: ${message}`);
    else logger.warn({ path: req.path, status, error: message }, `request rejected: ${message}`);
    if (!res.headersSent) res.status(status).json({ error: message });
  });
  return app;
}

/** The HTTP server's listener: POST /webhook straight to its handler (gateway role), everything else to express. */
export function createHttpHandler(deps: HttpDeps): RequestListener {
  const app = createHttpApp(deps);
  const { queue } = deps;
  if (!queue) return app;
  const webhook = webhookHandler({
    queue, chatlog: deps.chatlog, pages: deps.pages, logger: deps.logger, metrics: deps.metrics,
    appSecret: deps.config.fb.appSecret, bodyLimitBytes: deps.config.webhook.bodyLimitBytes,
    ...(deps.config.redis.waitReplicas > 0 ? { durability: { replicas: deps.config.redis.waitReplicas, timeoutMs: deps.config.redis.waitTimeoutMs } } : {}),
  });
  return (req, res) => (isWebhookPost(req) ? webhook(req, res) : app(req, res));
}
