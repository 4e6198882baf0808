/**
 * WhatsApp Cloud API as a channel: replies through `POST {GRAPH_API_URL}/{phone-number-id}/
 * messages` with the number's token as a bearer, each carrying our reply token as
 * `biz_opaque_callback_data`, which every status webhook of that message brings back: that
 * status is how a reply half-sent before a crash is known to have gone out (confirmation
 * `echo`). The answer's wamid is the outbound row's mid, so statuses fill its delivered/read
 * times. Sender actions mark the user's message read (two blue ticks), with the typing
 * indicator for `typing`. Free-form replies are only allowed within 24 hours of the user's
 * last message (the customer service window); outside it the API refuses them (131047).
 */
import type { Channel, ChannelPolicy, SendContext, SendResult, SenderAction } from '../channel';
import type { ChannelEntry } from '../../config-channels';
import type { ConversationRef } from '../conversation';
import { AGENT_KINDS, type InboundEvent } from '../event';
import type { GraphClient } from '../meta/graph';
import type { Author, Rendered, Rendering, Reply } from '../reply';
import { renderWhatsApp, WHATSAPP_LIMITS, type WaMessage } from './render';

export const WHATSAPP_WINDOW_MS = 24 * 3_600_000;

export interface WhatsAppNumber {
  /** The phone number id (WhatsApp Manager > API setup), not the phone number itself. */
  id: string;
  name?: string;
  accessToken: string;
}

export interface WhatsAppOptions {
  graph: GraphClient;
  numbers: ReadonlyMap<string, WhatsAppNumber>;
}

export class WhatsAppChannel implements Channel<WaMessage> {
  readonly type = 'whatsapp';
  readonly confirmation = 'echo' as const;
  readonly typingNamesMessage = true;
  readonly policy: ChannelPolicy = { replyWindowMs: WHATSAPP_WINDOW_MS, maxTextLength: WHATSAPP_LIMITS.maxText, maxQuickReplies: WHATSAPP_LIMITS.maxRows, maxButtons: WHATSAPP_LIMITS.maxButtons };

  constructor(private readonly o: WhatsAppOptions) {}

  render(replies: readonly Reply[], _to: ConversationRef, _author: Author): Rendering<WaMessage> {
    return renderWhatsApp(replies);
  }

  async send(m: Rendered<WaMessage>, ctx: SendContext): Promise<SendResult> {
    const body = { messaging_product: 'whatsapp', recipient_type: 'individual', to: ctx.to.user, ...m.body, biz_opaque_callback_data: ctx.token };
    const r = await this.o.graph.post(`/${ctx.to.account}/messages`, this.o.numbers.get(ctx.to.account)?.accessToken, body, { ...ctx.to, channel: this.type }, { bearer: true });
    const id = (r.body as { messages?: { id?: unknown }[] }).messages?.[0]?.id;
    return { attempts: r.attempts, ...(typeof id === 'string' ? { messageId: id } : {}) };
  }

  /**
   * Marks the user's message read; `typing` adds the typing indicator (shown until we answer, 25 s
   * at most). An agent's typing names the user's latest message (`about.replyTo`): without one
   * there is nothing to mark, so nothing is sent.
   */
  async senderAction(to: ConversationRef, action: SenderAction, about: InboundEvent): Promise<void> {
    if (about.channel !== this.type) return;
    const messageId = AGENT_KINDS.has(about.kind) ? about.replyTo : (about.mid ?? about.id);
    if (!messageId) return;
    const body = { messaging_product: 'whatsapp', status: 'read', message_id: messageId, ...(action === 'typing' ? { typing_indicator: { type: 'text' } } : {}) };
    await this.o.graph.post(`/${to.account}/messages`, this.o.numbers.get(to.account)?.accessToken, body, { ...to, channel: this.type }, { bearer: true, once: true });
  }
}

const PHONE_NUMBER_ID = /^\d{1,32}$/;

/** The problems of one CHANNELS_FILE entry `{"type":"whatsapp","id":"<phone number id>","name":"…","accessToken":"…"}`. */
/** Dev mode without CHANNELS_FILE, PAGES_FILE nor GRAPH_API_URL: one WhatsApp number, served by the built-in fake (src/dev/fake-whatsapp.ts). */
export const DEV_WHATSAPP_NUMBER: WhatsAppNumber = { id: '100000000000001', name: 'Dev WhatsApp number', accessToken: 'dev-whatsapp-access-token' };

export const whatsAppNumberOf = (e: ChannelEntry): WhatsAppNumber => ({ id: e.id, accessToken: String(e.fields.accessToken), ...(e.name ? { name: e.name } : {}) });

export function checkWhatsAppEntry(e: ChannelEntry): string[] {
  const problems: string[] = [];
  if (!PHONE_NUMBER_ID.test(e.id)) problems.push(`${e.where}.id must be the phone number id (digits, from WhatsApp Manager > API setup), not the phone number: got ${JSON.stringify(e.id)}`);
  const token = e.fields.accessToken;
  if (typeof token !== 'string' || token.length < 8 || /\s/.test(token)) problems.push(`${e.where}.accessToken must be an access token with the whatsapp_business_messaging permission (at least 8 characters, no spaces)`);
  return problems;
}
