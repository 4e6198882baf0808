/**
 * POST /webhook for Meta's platforms: one app, one app secret, one endpoint. The signature is
 * checked over the exact bytes once, then `object` picks the parser: `page` (Messenger),
 * `instagram`, `whatsapp_business_account`. GET /webhook answers the subscription handshake.
 */
import type { Ingress } from '../channel';
import { WebhookInputError, type ParseResult } from '../event';
import { safeEqual } from '../../lib/safe-equal';
import { isObj } from './messaging';
import { verifySignature } from './signature';

export type ObjectParser = (body: Record<string, unknown>, receivedAt: number) => ParseResult;

export interface MetaIngressOptions {
  appSecret: string;
  verifyToken: string;
  /** Accept a POST signed with the legacy sha1 header alone (FB_ALLOW_SHA1). */
  allowSha1?: boolean;
  /** Which `object` values this deployment takes, and their parsers. */
  parsers: ReadonlyMap<string, ObjectParser>;
}

export class MetaIngress implements Ingress {
  readonly path = '/webhook';

  constructor(private readonly opts: MetaIngressOptions) {}

  handshake(query: Record<string, unknown>): { status: number; body: string | { error: string } } {
    const mode = query['hub.mode'];
    const token = query['hub.verify_token'];
    const challenge = query['hub.challenge'];
    if (mode === 'subscribe' && typeof token === 'string' && typeof challenge === 'string' && safeEqual(token, this.opts.verifyToken)) return { status: 200, body: challenge };
    return { status: 403, body: { error: 'webhook verification failed: hub.mode must be subscribe and hub.verify_token must match FB_VERIFY_TOKEN' } };
  }

  accept(raw: Buffer, header: (name: string) => string | undefined, receivedAt: number): ParseResult {
    const sig = verifySignature(raw, header('x-hub-signature-256'), header('x-hub-signature'), this.opts.appSecret, { allowSha1: this.opts.allowSha1 ?? true });
    if (!sig.ok) throw new WebhookInputError(`invalid signature: ${sig.reason}`, 403);
    let body: unknown;
    try {
      body = JSON.parse(raw.toString('utf8'));
    } catch (err) {
      throw new WebhookInputError(`malformed JSON: ${(err as Error).message}`);
    }
    if (!isObj(body)) throw new WebhookInputError('body must be a JSON object');
    const parse = typeof body.object === 'string' ? this.opts.parsers.get(body.object) : undefined;
    if (!parse) throw new WebhookInputError(`object must be one of ${[...this.opts.parsers.keys()].map((k) => `"${k}"`).join(', ')}, got ${JSON.stringify(body.object ?? null)}`);
    return parse(body, receivedAt);
  }
}
