/**
 * LINE as a channel: replies go out with the push API, each push carrying an `X-Line-Retry-Key`
 * derived from the reply (account, event id, reply index). That key is the confirmation
 * strategy (`idempotent`): a reply found half-sent after a crash is simply pushed again with the
 * same key, and LINE answers 409 if the first push had been accepted — the user sees it once.
 * LINE remembers a key for 24 hours; a resend later than that could reach the user twice
 * (docs/channel-line.md). Push messages have no reply window (but count against the account's
 * monthly quota). Reply tokens (free) are not used: single use, valid for about a minute and
 * without a retry key, a reply token cannot be resent safely after a crash.
 */
import type { Channel, ChannelPolicy, SendContext, SendResult, SenderAction, UserProfile } from '../channel';
import { SendError } from '../channel';
import type { ConversationRef } from '../conversation';
import type { InboundEvent } from '../event';
import type { Author, Rendered, Rendering, Reply } from '../reply';
import type { LineAccount } from './account';
import type { LineApi } from './api';
import { LINE_LIMITS, renderLine, type LinePush } from './render';
import { lineRetryKey } from './retry-key';

/** How long the loading animation runs at most; LINE removes it as soon as our next message arrives. */
export const LOADING_SECONDS = 20;

export interface LineOptions {
  api: LineApi;
  accounts: ReadonlyMap<string, LineAccount>;
  /** Called with every 409: a push LINE had already accepted (counted and logged by the caller). */
  onAlreadyAccepted?: (ctx: SendContext) => void;
}

export class LineChannel implements Channel<LinePush> {
  readonly type = 'line';
  readonly confirmation = 'idempotent' as const;
  readonly policy: ChannelPolicy = { maxTextLength: LINE_LIMITS.maxText, maxQuickReplies: LINE_LIMITS.maxQuickReplies, maxButtons: LINE_LIMITS.maxButtons };

  constructor(private readonly o: LineOptions) {}

  private token(to: ConversationRef): string {
    const token = this.o.accounts.get(to.account)?.accessToken;
    if (!token) throw new SendError(`no access token for LINE channel ${to.account}`, { channel: 'line', account: to.account, user: to.user, code: 'no_token', retryable: false, notSent: true, attempts: 0 });
    return token;
  }

  render(replies: readonly Reply[], _to: ConversationRef, _author: Author): Rendering<LinePush> {
    return renderLine(replies);
  }

  async send(m: Rendered<LinePush>, ctx: SendContext): Promise<SendResult> {
    const r = await this.o.api.push(this.token(ctx.to), m.body, lineRetryKey(ctx.to.account, ctx.idempotencyKey), ctx.to);
    if (r.alreadyAccepted) this.o.onAlreadyAccepted?.(ctx);
    return { attempts: r.attempts, ...(r.messageId ? { messageId: r.messageId } : {}) };
  }

  /**
   * `typing`: the loading animation (one-on-one chats, which are the only chats this adapter
   * answers). `seen`: nothing. Without the OA Manager's chat feature LINE marks messages read
   * by itself; with it, the read mark needs the message's `markAsReadToken`, which the neutral
   * event does not carry, and staff reading in the OA Manager should decide what is read.
   */
  async senderAction(to: ConversationRef, action: SenderAction, _about: InboundEvent): Promise<void> {
    if (action !== 'typing') return;
    await this.o.api.loading(this.token(to), to, LOADING_SECONDS);
  }

  /** LINE's profile of a user who added the account as a friend. */
  async profile(to: ConversationRef): Promise<UserProfile | undefined> {
    const p = await this.o.api.profile(this.token(to), to);
    const name = typeof p.displayName === 'string' && p.displayName ? p.displayName : undefined;
    const pic = typeof p.pictureUrl === 'string' && /^https:\/\//.test(p.pictureUrl) ? p.pictureUrl : undefined;
    return name || pic ? { ...(name ? { name, firstName: name.split(' ')[0]! } : {}), ...(pic ? { avatarUrl: pic } : {}) } : undefined;
  }
}
