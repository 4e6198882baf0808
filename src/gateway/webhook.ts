/**
 * POST on a platform's webhook path, the hot path: read the body (within the limit), let the
 * channel's ingress verify its signature over the exact bytes and parse the whole POST, queue
 * its events, and answer — 200 only once every event is in Redis, 503 if Redis cannot take
 * them (the platform redelivers). A plain node request listener: every message costs two of
 * these POSTs (the user's and the confirmation of our reply), and express' routing,
 * body-parser and response helpers cost more CPU than all the rest of it
 * (bench/OPTIMISATION.md). The other routes stay on express.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Ingress } from '../channels/channel';
import { WebhookInputError } from '../channels/event';
import type { Logger } from '../log';
import type { Metrics } from '../metrics';
import { NotReplicatedError } from '../queue/durability';
import { QueueFullError } from '../queue/errors';
import { ingest, type IngestDeps } from './ingest';

export interface WebhookDeps extends IngestDeps {
  logger: Logger;
  metrics: Metrics;
  bodyLimitBytes: number;
}

/** The lower-cased path of a request, without query and trailing slash, as express routes it. */
export function pathOf(req: IncomingMessage): string {
  const url = req.url ?? '';
  const q = url.indexOf('?');
  const path = (q < 0 ? url : url.slice(0, q)).toLowerCase();
  return path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path;
}

const JSON_TYPE = 'application/json; charset=utf-8';

export function webhookHandler(ingress: Ingress, deps: WebhookDeps): (req: IncomingMessage, res: ServerResponse) => void {
  const { logger, metrics, bodyLimitBytes } = deps;
  const tooLarge = `body larger than the limit of ${bodyLimitBytes} bytes`;

  return (req, res) => {
    const started = process.hrtime.bigint();
    let answered = false;
    const reply = (status: number, body: unknown, close = false) => {
      if (answered) return;
      answered = true;
      const text = JSON.stringify(body);
      res.writeHead(status, { 'content-type': JSON_TYPE, 'content-length': Buffer.byteLength(text), ...(close ? { connection: 'close' } : {}) });
      res.end(text);
      metrics.webhookRequests.inc({ status: String(status) });
      metrics.ackLatency.observe(Number(process.hrtime.bigint() - started) / 1e9);
    };
    const reject413 = () => {
      logger.warn({ path: req.url, status: 413, error: tooLarge }, `request rejected: ${tooLarge}`);
      // The rest is not read: node closes the connection once the answer is out.
      reply(413, { error: tooLarge }, true);
    };
    if (Number(req.headers['content-length'] ?? 0) > bodyLimitBytes) return reject413();

    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      if (answered) return;
      size += chunk.length;
      if (size > bodyLimitBytes) reject413();
      else chunks.push(chunk);
    });
    req.on('error', (err) => {
      // The client went away mid-body: nobody to answer, nothing queued.
      if (answered) return;
      answered = true;
      metrics.webhookRequests.inc({ status: '400' });
      logger.warn({ path: req.url, err: err.message }, 'request rejected: body not received');
    });
    req.on('end', () => {
      if (answered) return;
      handle(Buffer.concat(chunks, size), req).then(
        ([status, body]) => reply(status, body),
        (err) => {
          logger.error({ err, path: req.url }, 'request failed: internal error');
          reply(500, { error: 'internal error' });
        },
      );
    });
  };

  async function handle(raw: Buffer, req: IncomingMessage): Promise<[number, unknown]> {
    const header = (name: string) => {
      const v = req.headers[name];
      return Array.isArray(v) ? v[0] : v;
    };
    let parsed;
    try {
      parsed = ingress.accept(raw, header, Date.now());
    } catch (err) {
      if (!(err instanceof WebhookInputError)) throw err;
      logger.warn({ path: ingress.path, status: err.status, error: err.message, bytes: raw.length }, `webhook POST rejected: ${err.status === 403 ? 'bad signature' : 'bad input'}, nothing queued`);
      return [err.status, { error: err.message }];
    }
    try {
      const summary = await ingest(parsed, deps);
      return [200, { status: 'EVENT_RECEIVED', ...summary }];
    } catch (err) {
      if (err instanceof QueueFullError) {
        // The other events of the POST are queued; the platform's retry of it is deduplicated.
        return [503, { error: 'conversation queue full, retry later' }];
      }
      if (err instanceof NotReplicatedError) {
        logger.warn({ err: err.message }, 'webhook POST queued but not replicated in time: answering 503 so the platform retries (the retry is deduplicated)');
        return [503, { error: 'queued but not yet replicated, retry later' }];
      }
      logger.error({ err }, 'webhook POST not queued: redis unavailable; answering 503 so the platform retries');
      return [503, { error: 'queue unavailable, retry later' }];
    }
  }
}
