/**
 * The handoff alert to the team's own tools: when a conversation starts waiting for a person,
 * the process that made the change POSTs a Slack-compatible JSON body (`text`, `blocks`) to
 * HANDOFF_WEBHOOK_URL (or the account's `handoffWebhookUrl`), signed with HANDOFF_WEBHOOK_SECRET:
 * `X-Chatbot-Signature: sha256=<hex HMAC-SHA256 of the exact body>`. Failures are retried with
 * backoff (about a minute in all), off the ordered path. A process that dies before the POST
 * succeeded loses that alert: the waiting queue, the app's alert, the user notice
 * (HANDOFF_NOTICE_MINUTES) and `cb_handoff_waiting_oldest_seconds` still show the conversation.
 */
import crypto from 'node:crypto';
import { sleep } from '../lib/sleep';
import type { Logger } from '../log';
import type { Metrics } from '../metrics';

export interface HandoffAlert {
  key: string;
  channel: string;
  account: string;
  user: string;
  accountName?: string;
  name?: string;
  cause: string;
  at: number;
}

export interface AlertOptions {
  url?: string;
  secret?: string;
  /** The account's own URL, if CHANNELS_FILE gives one. */
  urlOf: (channel: string, account: string) => string | undefined;
  /** Where the admin app is, for a link in the message. */
  adminUrl?: string;
  attempts?: number;
  baseDelayMs?: number;
}

export const signBody = (body: string, secret: string): string => `sha256=${crypto.createHmac('sha256', secret).update(body).digest('hex')}`;

const CAUSES: Record<string, string> = { intent: 'asked for a person', fallback: 'was not understood three times', unassign: 'was put back in the queue', snooze_ended: 'is waiting again after a snooze' };

export function alertBody(a: HandoffAlert, adminUrl?: string): string {
  const who = a.name ? `${a.name} (${a.user})` : a.user;
  const where = `${a.channel}${a.accountName ? ` · ${a.accountName}` : ` · ${a.account}`}`;
  const text = `:raising_hand: ${who} on ${where} ${CAUSES[a.cause] ?? `is waiting (${a.cause})`}: conversation ${a.key}`;
  const link = adminUrl ? `${adminUrl.replace(/\/+$/, '')}/admin#${encodeURIComponent(a.key)}` : undefined;
  return JSON.stringify({
    text,
    blocks: [
      { type: 'section', text: { type: 'mrkdwn', text } },
      { type: 'context', elements: [{ type: 'mrkdwn', text: `waiting since ${new Date(a.at).toISOString()}${link ? ` · <${link}|open in the inbox>` : ''}` }] },
    ],
  });
}

export class HandoffAlerts {
  private readonly pending = new Set<Promise<void>>();

  constructor(
    private readonly o: AlertOptions,
    private readonly logger: Logger,
    private readonly metrics?: Pick<Metrics, 'handoffAlerts'>,
  ) {}

  /** Sends in the background; resolves at once. */
  notify(a: HandoffAlert): void {
    const url = this.o.urlOf(a.channel, a.account) ?? this.o.url;
    if (!url) return;
    const p = this.send(url, a).finally(() => this.pending.delete(p));
    this.pending.add(p);
  }

  private async send(url: string, a: HandoffAlert): Promise<void> {
    const body = alertBody(a, this.o.adminUrl);
    const headers: Record<string, string> = { 'content-type': 'application/json', ...(this.o.secret ? { 'x-chatbot-signature': signBody(body, this.o.secret) } : {}) };
    const attempts = this.o.attempts ?? 6;
    for (let n = 1; n <= attempts; n++) {
      let why: string;
      try {
        const res = await fetch(url, { method: 'POST', headers, body, signal: AbortSignal.timeout(5_000) });
        await res.arrayBuffer().catch(() => undefined);
        if (res.ok) {
          this.metrics?.handoffAlerts.inc({ result: 'sent' });
          return;
        }
        why = `HTTP ${res.status}`;
        if (res.status < 500 && res.status !== 429 && res.status !== 408) n = attempts; // a refusal: no retry will change it
      } catch (err) {
        why = (err as Error).message;
      }
      if (n >= attempts) {
        this.metrics?.handoffAlerts.inc({ result: 'failed' });
        this.logger.error({ conversation: a.key, why, attempts: n }, 'handoff alert not delivered to the webhook');
        return;
      }
      this.metrics?.handoffAlerts.inc({ result: 'retried' });
      this.logger.warn({ conversation: a.key, why, attempt: n }, 'handoff alert failed: retrying');
      await sleep(Math.min(30_000, (this.o.baseDelayMs ?? 500) * 2 ** (n - 1)));
    }
  }

  /** Waits for alerts in flight (shutdown, tests). */
  async drain(): Promise<void> {
    await Promise.allSettled([...this.pending]);
  }
}
