/**
 * Facebook Messenger as a channel: replies through the Send API (`POST {GRAPH_API_URL}/me/
 * messages` with the page's token), each carrying our reply token as `metadata`, which
 * Facebook's echo brings back: that echo is how a reply half-sent before a crash is known
 * to have gone out. Agents' replies go with the HUMAN_AGENT tag (up to 7 days after the
 * user's last message); bot replies answer within the 24-hour window.
 */
import type { ChannelEntry } from '../../config-channels';
import { SendError, type Channel, type ChannelPolicy, type SendContext, type SendResult, type SenderAction, type UserProfile } from '../channel';
import type { AccountInbox } from '../accounts';
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
  /** The User Profile API: `GET /{PSID}?fields=first_name,last_name,profile_pic`. */
  async profile(to: ConversationRef): Promise<UserProfile | undefined> {
    const b = (await this.o.graph.get(`/${encodeURIComponent(to.user)}`, this.token(to.account), { fields: 'first_name,last_name,profile_pic' }, { ...to, channel: this.type })) as Record<string, unknown>;
    const first = typeof b.first_name === 'string' ? b.first_name : undefined;
    const last = typeof b.last_name === 'string' ? b.last_name : undefined;
    const pic = typeof b.profile_pic === 'string' && /^https:\/\//.test(b.profile_pic) ? b.profile_pic : undefined;
    const name = [first, last].filter(Boolean).join(' ');
    return name || pic ? { ...(name ? { name } : {}), ...(first ? { firstName: first } : {}), ...(pic ? { avatarUrl: pic } : {}) } : undefined;
  }

  /**
   * Handover Protocol: `POST /me/pass_thread_control` {recipient, target_app_id, metadata} or
   * `POST /me/take_thread_control` {recipient, metadata}. Passing a thread we no longer own, or
   * taking one we own, is refused with error 10 (as the Graph fake models it): `already`.
   */
  async threadControl(to: ConversationRef, op: 'pass' | 'take', o: { targetAppId?: string; metadata?: string }): Promise<'done' | 'already'> {
    const body = { recipient: { id: to.user }, ...(op === 'pass' ? { target_app_id: o.targetAppId } : {}), ...(o.metadata ? { metadata: o.metadata } : {}) };
    try {
      await this.o.graph.post(`/me/${op}_thread_control`, this.token(to.account), body, { ...to, channel: this.type });
      return 'done';
    } catch (err) {
      if (err instanceof SendError && err.code === '10') return 'already';
      throw err;
    }
  }
}

export function checkMessengerEntry(e: ChannelEntry): string[] {
  const f = e.fields;
  const problems = typeof f.accessToken === 'string' && f.accessToken.length >= 8 ? [] : [`${e.where}.accessToken must be the page's access token (at least 8 characters)`];
  if (f.pageInbox !== undefined && typeof f.pageInbox !== 'boolean') problems.push(`${e.where}.pageInbox must be true or false (pass conversations to Facebook's Page Inbox with the Handover Protocol)`);
  if ((f.pageInboxAppId !== undefined && !(typeof f.pageInboxAppId === 'string' || typeof f.pageInboxAppId === 'number')) || (f.pageInboxAppId !== undefined && !/^\d{1,32}$/.test(String(f.pageInboxAppId))))
    problems.push(`${e.where}.pageInboxAppId must be an app id (digits): the app conversations are passed to (${PAGE_INBOX_APP_ID}, the Page Inbox, by default)`);
  if (f.staffEchoes !== undefined && typeof f.staffEchoes !== 'boolean') problems.push(`${e.where}.staffEchoes must be true or false (a message the page sends from elsewhere hands the conversation to a person)`);
  return problems;
}

/** Facebook's Page Inbox, the default target of pass_thread_control. */
export const PAGE_INBOX_APP_ID = '263902037430900';

/** The inbox settings of a Messenger entry: the Handover Protocol (off unless `pageInbox`), staff echoes (on unless `staffEchoes: false`). */
export function messengerInbox(e: ChannelEntry): AccountInbox {
  const f = e.fields;
  return { staffEchoes: f.staffEchoes !== false, ...(f.pageInbox === true ? { pageInboxAppId: String(f.pageInboxAppId ?? PAGE_INBOX_APP_ID) } : {}) };
}

export const pageAccountOf = (e: ChannelEntry): PageAccount => ({ id: e.id, accessToken: String(e.fields.accessToken), ...(e.name ? { name: e.name } : {}) });

/** `object: "page"` bodies of POST /webhook. */
export const parseMessengerWebhook = (body: Record<string, unknown>, receivedAt: number): ParseResult => parseMessaging('messenger', body, receivedAt);
