/**
 * "You have a new reply": one notification per absence. When a reply lands in the transcript
 * of a visitor with no socket open, and nobody told them since they were last connected (the
 * reply script decides that atomically, see lua/reply-4.lua), the site's notification
 * webhook gets one signed POST; the next one waits until the visitor has come back and left
 * again. We send no email ourselves (no mail server in this deployment): the webhook names
 * the visitor — the site's own user id when the site identified them — so the site can mail
 * its user with its own mail system.
 *
 * Best effort, off the reply's path: a few attempts with backoff, then counted and logged.
 * Signature: `X-Webchat-Signature: sha256=<hex HMAC-SHA256 of the exact body with notifySecret>`.
 */
import crypto from 'node:crypto';
import type { Logger } from '../../log';
import { sleep } from '../../lib/sleep';
import type { WebchatSite } from './sites';

export interface Notification {
  type: 'webchat.reply';
  site: string;
  /** The conversation's visitor id (`u-<site user id>` or `v-<anonymous id>`). */
  visitor: string;
  /** The site's user id, for visitors the site identified. */
  userId?: string;
  conversation: string;
  message: 'You have a new reply';
  /** The start of the reply's text. */
  preview?: string;
  at: string;
}

export const signNotification = (body: string, secret: string): string => `sha256=${crypto.createHmac('sha256', secret).update(body).digest('hex')}`;

export class Notifier {
  private readonly inFlight = new Set<Promise<void>>();

  constructor(
    private readonly sites: ReadonlyMap<string, WebchatSite>,
    private readonly logger: Logger,
    private readonly onResult: (result: 'sent' | 'failed') => void,
    private readonly opts = { attempts: 3, timeoutMs: 5_000, backoffMs: 500 },
  ) {}

  /** Starts the notification and returns at once; `drain()` waits for those in flight. */
  notify(site: string, visitor: string, conversation: string, preview: string | undefined): void {
    const s = this.sites.get(site);
    if (!s?.notify) return;
    const n: Notification = {
      type: 'webchat.reply',
      site,
      visitor,
      ...(visitor.startsWith('u-') ? { userId: visitor.slice(2) } : {}),
      conversation,
      message: 'You have a new reply',
      ...(preview ? { preview: preview.slice(0, 200) } : {}),
      at: new Date().toISOString(),
    };
    const p = this.post(s.notify, n).finally(() => this.inFlight.delete(p));
    this.inFlight.add(p);
  }

  async drain(): Promise<void> {
    await Promise.allSettled([...this.inFlight]);
  }

  private async post(target: { url: string; secret: string }, n: Notification): Promise<void> {
    const body = JSON.stringify(n);
    const headers = { 'content-type': 'application/json', 'x-webchat-signature': signNotification(body, target.secret), 'user-agent': 'ordered-chatbot-webchat/1' };
    let last = '';
    for (let attempt = 1; attempt <= this.opts.attempts; attempt++) {
      try {
        const res = await fetch(target.url, { method: 'POST', body, headers, signal: AbortSignal.timeout(this.opts.timeoutMs) });
        await res.arrayBuffer().catch(() => undefined);
        if (res.ok) {
          this.onResult('sent');
          this.logger.info({ site: n.site, conversation: n.conversation, attempt }, 'web chat visitor away: notification sent');
          return;
        }
        last = `HTTP ${res.status}`;
        if (res.status < 500 && res.status !== 429) break; // refused: trying again will not help
      } catch (err) {
        last = (err as Error).message;
      }
      if (attempt < this.opts.attempts) await sleep(this.opts.backoffMs * 2 ** (attempt - 1));
    }
    this.onResult('failed');
    this.logger.warn({ site: n.site, conversation: n.conversation, error: last }, 'web chat notification not delivered (best effort: not retried further)');
  }
}
