/**
 * The HTTP face of every role: the Messenger webhook (gateway role), health, readiness and
 * Prometheus metrics. The webhook answers only after its events are durably queued and
 * never waits for bot work.
 */
import express, { type NextFunction, type Request, type Response } from 'express';
import { parseWebhook, WebhookInputError } from '../channels/messenger/parse';
import { verifySignature } from '../channels/messenger/signature';
import type { PageDirectory } from '../channels/messenger/pages';
import type { Config } from '../config';
import type { Logger } from '../log';
import type { Metrics } from '../metrics';
import type { ConversationQueue } from '../queue/queue';
import type { RedisClient } from '../queue/redis';
import { ingest } from './ingest';
import { safeEqual } from '../admin/auth';
import { NotReplicatedError } from '../queue/durability';
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

export function createHttpApp(deps: HttpDeps): express.Express {
  const { config, logger, metrics, redis, queue } = deps;
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);

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

    app.post('/webhook', express.raw({ type: () => true, limit: config.webhook.bodyLimitBytes }), async (req, res) => {
      const started = process.hrtime.bigint();
      const reply = (status: number, body: unknown) => {
        res.status(status).json(body);
        metrics.webhookRequests.inc({ status: String(status) });
        metrics.ackLatency.observe(Number(process.hrtime.bigint() - started) / 1e9);
      };
      const raw = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
      const sig = verifySignature(raw, req.header('x-hub-signature-256'), req.header('x-hub-signature'), config.fb.appSecret);
      if (!sig.ok) {
        logger.warn({ reason: sig.reason, bytes: raw.length }, 'webhook POST rejected: bad signature');
        return reply(403, { error: `invalid signature: ${sig.reason}` });
      }
      let parsed;
      try {
        parsed = parseWebhook(JSON.parse(raw.toString('utf8')));
      } catch (err) {
        const message = err instanceof WebhookInputError ? err.message : `malformed JSON: ${(err as Error).message}`;
        logger.warn({ error: message }, 'webhook POST rejected: bad input, nothing queued');
        return reply(400, { error: message });
      }
      try {
        const durability = config.redis.waitReplicas > 0 ? { replicas: config.redis.waitReplicas, timeoutMs: config.redis.waitTimeoutMs } : undefined;
        const summary = await ingest(parsed, { queue, chatlog: deps.chatlog, pages: deps.pages, logger, metrics, ...(durability ? { durability } : {}) });
        return reply(200, { status: 'EVENT_RECEIVED', ...summary });
      } catch (err) {
        if (err instanceof NotReplicatedError) {
          logger.warn({ err: err.message }, 'webhook POST queued but not replicated in time: answering 503 so Facebook retries (the retry is deduplicated)');
          return reply(503, { error: 'queued but not yet replicated, retry later' });
        }
        logger.error({ err }, 'webhook POST not queued: redis unavailable; answering 503 so Facebook retries');
        return reply(503, { error: 'queue unavailable, retry later' });
      }
    });
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
