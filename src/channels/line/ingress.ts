/**
 * POST /webhook/line. One endpoint for every LINE channel of the deployment: the body's
 * `destination` (the bot's user id) names the channel, whose secret the signature over the
 * exact bytes is then checked with. A destination this deployment does not list is refused
 * with 403: without its secret the request cannot be authenticated, and a non-2xx answer
 * shows the operator the problem in the LINE console ("Verify") while LINE keeps the events
 * for redelivery until the channel is configured. The console's "Verify" for a configured
 * channel sends `"events":[]`, signed: it gets 200.
 */
import type { Ingress } from '../channel';
import { WebhookInputError, type ParseResult } from '../event';
import type { LineAccount } from './account';
import { parseLineWebhook, type LineParse } from './parse';
import { verifyLineSignature } from './signature';

/** What the ingress reports besides the events it returns (metrics and logs of the gateway). */
export interface LineIngressObserver {
  skipped(s: LineParse['skipped'][number], account: string): void;
  redelivered(count: number, account: string): void;
}

export class LineIngress implements Ingress {
  readonly path = '/webhook/line';
  private readonly byDestination: ReadonlyMap<string, LineAccount>;

  constructor(
    accounts: Iterable<LineAccount>,
    private readonly observer?: LineIngressObserver,
  ) {
    this.byDestination = new Map([...accounts].map((a) => [a.id, a]));
  }

  accept(raw: Buffer, header: (name: string) => string | undefined, receivedAt: number): ParseResult {
    let body: unknown;
    try {
      body = JSON.parse(raw.toString('utf8'));
    } catch (err) {
      throw new WebhookInputError(`malformed JSON: ${(err as Error).message}`);
    }
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new WebhookInputError('body must be a JSON object');
    const destination = (body as Record<string, unknown>).destination;
    if (typeof destination !== 'string' || destination === '') throw new WebhookInputError('destination is required: the user id of the bot the events are for');
    const account = this.byDestination.get(destination);
    if (!account) throw new WebhookInputError(`destination ${JSON.stringify(destination.slice(0, 64))} is not a LINE channel this deployment serves (CHANNELS_FILE): its signature cannot be checked`, 403);
    const sig = verifyLineSignature(raw, header('x-line-signature'), account.channelSecret);
    if (!sig.ok) throw new WebhookInputError(`invalid signature: ${sig.reason}`, 403);
    const parsed = parseLineWebhook(body as Record<string, unknown>, account.id, receivedAt);
    if (this.observer) {
      for (const s of parsed.skipped) this.observer.skipped(s, account.id);
      if (parsed.redelivered) this.observer.redelivered(parsed.redelivered, account.id);
    }
    return { events: parsed.events, unknown: parsed.unknown };
  }
}
