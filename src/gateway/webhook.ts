/**
 * POST /webhook, the hot path: read the body (within the limit), verify Facebook's signature
 * over its exact bytes, validate the whole POST, queue its events, and answer — 200 only once
 * every event is in Redis, 503 if Redis cannot take them (Facebook redelivers). A plain node
 * request listener: every message costs two of these POSTs (the user's and the echo of our
 * reply), and express' routing, body-parser and response helpers cost more CPU than all the
 * rest of it (bench/OPTIMISATION.md). The other routes stay on express.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { parseWebhook, WebhookInputError } from '../channels/messenger/parse';
import { verifySignature } from '../channels/messenger/signature';
import type { PageDirectory } from '../channels/messenger/pages';
import type { ChatlogStream } from '../chatlog/stream';
import type { Logger } from '../log';
import type { Metrics } from '../metrics';
import type { ConversationQueue } from '../queue/queue';
import { ingest } from './ingest';
import { NotReplicatedError, type Durability } from '../queue/durability';
import { QueueFullError } from '../queue/errors';

export interface WebhookDeps {
  queue: ConversationQueue;
  chatlog: ChatlogStream;
  pages: PageDirectory;
  logger: Logger;
  metrics: Metrics;
  appSecret: string;
  /** Accept the legacy sha1 header alone (FB_ALLOW_SHA1). */
  allowSha1: boolean;
  bodyLimitBytes: number;
  /** Acknowledge only once the queued events are on this many replicas (REDIS_WAIT_REPLICAS). */
  durability?: Durability;
}

/** True for the requests `webhookHandler` answers: POST /webhook, as express would route it (any case, optional trailing slash, any query). */
export function isWebhookPost(req: IncomingMessage): boolean {
  if (req.method !== 'POST') return false;
  const url = req.url ?? '';
  const q = url.indexOf('?');
  const path = (q < 0 ? url : url.slice(0, q)).toLowerCase();
  return path === '/webhook' || path === '/webhook/';
}

const JSON_TYPE = 'application/json; charset=utf-8';

export function webhookHandler(deps: WebhookDeps): (req: IncomingMessage, res: ServerResponse) => void {
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
    const sig = verifySignature(raw, header('x-hub-signature-256'), header('x-hub-signature'), deps.appSecret, { allowSha1: deps.allowSha1 });
    if (!sig.ok) {
      logger.warn({ reason: sig.reason, bytes: raw.length }, 'webhook POST rejected: bad signature');
      return [403, { error: `invalid signature: ${sig.reason}` }];
    }
    let parsed;
    try {
      parsed = parseWebhook(JSON.parse(raw.toString('utf8')));
    } catch (err) {
      const message = err instanceof WebhookInputError ? err.message : `malformed JSON: ${(err as Error).message}`;
      logger.warn({ error: message }, 'webhook POST rejected: bad input, nothing queued');
      return [400, { error: message }];
    }
    try {
      const summary = await ingest(parsed, deps);
      return [200, { status: 'EVENT_RECEIVED', ...summary }];
    } catch (err) {
      if (err instanceof QueueFullError) {
        // The other events of the POST are queued; Facebook's retry of it is deduplicated.
        return [503, { error: 'conversation queue full, retry later' }];
      }
      if (err instanceof NotReplicatedError) {
        logger.warn({ err: err.message }, 'webhook POST queued but not replicated in time: answering 503 so Facebook retries (the retry is deduplicated)');
        return [503, { error: 'queued but not yet replicated, retry later' }];
      }
      logger.error({ err }, 'webhook POST not queued: redis unavailable; answering 503 so Facebook retries');
      return [503, { error: 'queue unavailable, retry later' }];
    }
  }
}
