/**
 * Instagram Messaging as a channel (Instagram API with Facebook Login): replies through the
 * Graph API's `POST {GRAPH_API_URL}/me/messages` with the access token of the Facebook Page
 * linked to the Instagram professional account, recipient = the user's Instagram-scoped id.
 * Instagram's echo carries no metadata, so a reply half-sent before a crash is confirmed by
 * its content: every send is marked with a confirmation key, which the echo also yields
 * (confirm.ts), and the reply ledger counts echoes of a key against our sends of it. Agents'
 * replies go with the HUMAN_AGENT tag (up to 7 days after the user's last message); bot
 * replies answer within the 24-hour window. docs/channel-instagram.md says what this
 * guarantees.
 */
import type { Channel, ChannelPolicy, SendContext, SendResult, SenderAction, UserProfile } from '../channel';
import type { ConversationRef } from '../conversation';
import type { InboundEvent } from '../event';
import type { GraphClient } from '../meta/graph';
import type { SendMessage } from '../messenger/render';
import type { Author, Rendered, Rendering, Reply } from '../reply';
import { sentKey } from './confirm';
import { INSTAGRAM_LIMITS, renderInstagram } from './render';

const DAY_MS = 24 * 3_600_000;

export interface InstagramAccount {
  /** The Instagram professional account's id (the webhook's entry.id). */
  id: string;
  name?: string;
  /** The access token of the Facebook Page linked to the account. */
  accessToken: string;
}

export interface InstagramOptions {
  graph: GraphClient;
  accounts: ReadonlyMap<string, InstagramAccount>;
}

export class InstagramChannel implements Channel<SendMessage> {
  readonly type = 'instagram';
  readonly confirmation = 'echo' as const;
  readonly policy: ChannelPolicy = {
    replyWindowMs: DAY_MS,
    maxTextLength: INSTAGRAM_LIMITS.maxText,
    maxQuickReplies: INSTAGRAM_LIMITS.maxQuickReplies,
    maxButtons: INSTAGRAM_LIMITS.maxButtons,
  };

  constructor(private readonly o: InstagramOptions) {}

  render(replies: readonly Reply[], _to: ConversationRef, _author: Author): Rendering<SendMessage> {
    return renderInstagram(replies);
  }

  confirmationKey(message: Rendered<SendMessage>): string | undefined {
    return sentKey(message.body);
  }

  /** Instagram's User Profile API: `GET /{IGSID}?fields=name,username,profile_pic`. */
  async profile(to: ConversationRef): Promise<UserProfile | undefined> {
    const token = this.o.accounts.get(to.account)?.accessToken;
    const b = (await this.o.graph.get(`/${encodeURIComponent(to.user)}`, token, { fields: 'name,username,profile_pic' }, { ...to, channel: this.type })) as Record<string, unknown>;
    const name = typeof b.name === 'string' && b.name ? b.name : typeof b.username === 'string' ? b.username : undefined;
    const pic = typeof b.profile_pic === 'string' && /^https:\/\//.test(b.profile_pic) ? b.profile_pic : undefined;
    return name || pic ? { ...(name ? { name, firstName: name.split(' ')[0]! } : {}), ...(pic ? { avatarUrl: pic } : {}) } : undefined;
  }

  async send(m: Rendered<SendMessage>, ctx: SendContext): Promise<SendResult> {
    const body = {
      recipient: { id: ctx.to.user },
      ...(ctx.author === 'agent' ? { messaging_type: 'MESSAGE_TAG', tag: 'HUMAN_AGENT' } : { messaging_type: 'RESPONSE' }),
      // No metadata: Instagram does not document it and its echo does not bring it back.
      message: m.body,
    };
    const r = await this.o.graph.post('/me/messages', this.o.accounts.get(ctx.to.account)?.accessToken, body, { ...ctx.to, channel: this.type });
    const messageId = (r.body as { message_id?: unknown }).message_id;
    return { attempts: r.attempts, ...(typeof messageId === 'string' ? { messageId } : {}) };
  }

  async senderAction(to: ConversationRef, action: SenderAction, _about: InboundEvent): Promise<void> {
    const sender_action = action === 'typing' ? 'typing_on' : 'mark_seen';
    await this.o.graph.post('/me/messages', this.o.accounts.get(to.account)?.accessToken, { recipient: { id: to.user }, sender_action }, { ...to, channel: this.type }, { once: true });
  }
}
