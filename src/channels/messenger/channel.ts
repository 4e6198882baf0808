/**
 * Facebook Messenger as a channel: replies through the Send API (`POST {GRAPH_API_URL}/me/
 * messages` with the page's token), each carrying our reply token as `metadata`, which
 * Facebook's echo brings back: that echo is how a reply half-sent before a crash is known
 * to have gone out. Agents' replies go with the HUMAN_AGENT tag (up to 7 days after the
 * user's last message); bot replies answer within the 24-hour window.
 */
import type { ChannelEntry } from '../../config-channels';
import type { Channel, ChannelPolicy, SendContext, SendResult, SenderAction } from '../channel';
import type { ConversationRef } from '../conversation';
import type { InboundEvent, ParseResult } from '../event';
import type { GraphClient } from '../meta/graph';
import { parseMessaging } from '../meta/messaging';
import type { Author, Rendered, Rendering, Reply } from '../reply';
import { MESSENGER_LIMITS, renderMessenger, type MessengerLimits, type SendMessage } from './render';

export const DAY_MS = 24 * 3_600_000;

export interface PageAccount {
  id: string;
  name?: string;
  accessToken: string;
}

export interface MessengerOptions {
  graph: GraphClient;
  /** Pages and their tokens; a page not listed uses `defaultToken` if there is one. */
  pages: ReadonlyMap<string, PageAccount>;
  defaultToken?: string;
  /** `messenger`; Instagram runs the same code under its own type and limits. */
  type?: string;
  limits?: MessengerLimits;
}

export class MessengerChannel implements Channel<SendMessage> {
  readonly type: string;
  readonly confirmation = 'echo' as const;
  readonly policy: ChannelPolicy;
  private readonly limits: MessengerLimits;

  constructor(private readonly o: MessengerOptions) {
    this.type = o.type ?? 'messenger';
    this.limits = o.limits ?? MESSENGER_LIMITS;
    this.policy = { replyWindowMs: DAY_MS, maxTextLength: this.limits.maxText, maxQuickReplies: this.limits.maxQuickReplies, maxButtons: this.limits.maxButtons };
  }

  token(account: string): string | undefined {
    return this.o.pages.get(account)?.accessToken ?? this.o.defaultToken;
  }

  render(replies: readonly Reply[], _to: ConversationRef, _author: Author): Rendering<SendMessage> {
    return renderMessenger(replies, this.limits);
  }

  async send(m: Rendered<SendMessage>, ctx: SendContext): Promise<SendResult> {
    const body = {
      recipient: { id: ctx.to.user },
      // An agent may answer up to 7 days after the user's last message, with this tag.
      ...(ctx.author === 'agent' ? { messaging_type: 'MESSAGE_TAG', tag: 'HUMAN_AGENT' } : { messaging_type: 'RESPONSE' }),
      message: { ...m.body, metadata: ctx.token },
    };
    const r = await this.o.graph.post('/me/messages', this.token(ctx.to.account), body, { ...ctx.to, channel: this.type });
    const messageId = (r.body as { message_id?: unknown }).message_id;
    return { attempts: r.attempts, ...(typeof messageId === 'string' ? { messageId } : {}) };
  }

  async senderAction(to: ConversationRef, action: SenderAction, _about: InboundEvent): Promise<void> {
    const sender_action = action === 'typing' ? 'typing_on' : 'mark_seen';
    await this.o.graph.post('/me/messages', this.token(to.account), { recipient: { id: to.user }, sender_action }, { ...to, channel: this.type }, { once: true });
  }
}

export function checkMessengerEntry(e: ChannelEntry): string[] {
  return typeof e.fields.accessToken === 'string' && e.fields.accessToken.length >= 8 ? [] : [`${e.where}.accessToken must be the page's access token (at least 8 characters)`];
}

export const pageAccountOf = (e: ChannelEntry): PageAccount => ({ id: e.id, accessToken: String(e.fields.accessToken), ...(e.name ? { name: e.name } : {}) });

/** `object: "page"` bodies of POST /webhook. */
export const parseMessengerWebhook = (body: Record<string, unknown>, receivedAt: number): ParseResult => parseMessaging('messenger', body, receivedAt);
