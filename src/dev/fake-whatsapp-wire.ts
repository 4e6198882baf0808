/**
 * Webhook bodies as the WhatsApp Cloud API posts them (Meta's "messages" webhook reference):
 * a user's message, and a status of one of the business's messages. Built by the fake (dev mode,
 * tests, bench); signed by whoever posts them.
 */

/** A user's message, as the emulator or a test describes it. */
export interface UserMessage {
  phoneNumberId?: string;
  user: string;
  /** The user's profile name (`contacts[].profile.name`). */
  name?: string;
  wamid?: string;
  atMs?: number;
  text?: string;
  /** A tap on a reply button (`button_reply`) or a list row (`list_reply`) we sent. */
  reply?: { id: string; title: string; list?: boolean };
  /** The wamid of the message this one answers (`context`). */
  replyTo?: string;
}

const DISPLAY_NUMBER = '15550000000';
const seconds = (ms: number) => String(Math.floor(ms / 1000));

const envelope = (wabaId: string | undefined, phoneNumberId: string, value: Record<string, unknown>) => ({
  object: 'whatsapp_business_account',
  entry: [{ id: wabaId ?? '102290129340398', changes: [{ value: { messaging_product: 'whatsapp', metadata: { display_phone_number: DISPLAY_NUMBER, phone_number_id: phoneNumberId }, ...value }, field: 'messages' }] }],
});

export function userMessageBody(m: UserMessage & { phoneNumberId: string; wamid: string; atMs: number }, wabaId?: string): Record<string, unknown> {
  const content = m.reply
    ? { type: 'interactive', interactive: m.reply.list ? { type: 'list_reply', list_reply: { id: m.reply.id, title: m.reply.title } } : { type: 'button_reply', button_reply: { id: m.reply.id, title: m.reply.title } } }
    : { type: 'text', text: { body: m.text ?? '' } };
  return envelope(wabaId, m.phoneNumberId, {
    contacts: [{ profile: { name: m.name ?? `User ${m.user.slice(-4)}` }, wa_id: m.user }],
    messages: [{ ...(m.replyTo ? { context: { from: DISPLAY_NUMBER, id: m.replyTo } } : {}), from: m.user, id: m.wamid, timestamp: seconds(m.atMs), ...content }],
  });
}

export interface StatusOf {
  phoneNumberId: string;
  to: string;
  wamid: string;
  body: Record<string, unknown>;
}

const WINDOW_ERROR = {
  code: 131047,
  title: 'Re-engagement message',
  message: 'Re-engagement message',
  error_data: { details: 'Message failed to send because more than 24 hours have passed since the customer last replied to this number.' },
  href: 'https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/',
};

export function statusBody(m: StatusOf, status: string, wabaId?: string, atMs = Date.now()): Record<string, unknown> {
  const cb = m.body.biz_opaque_callback_data;
  const billing =
    status === 'failed'
      ? { errors: [WINDOW_ERROR] }
      : {
          ...(status === 'read' ? {} : { conversation: { id: `conv-${m.to}`, ...(status === 'sent' ? { expiration_timestamp: seconds(atMs + 24 * 3_600_000) } : {}), origin: { type: 'service' } } }),
          pricing: { billable: false, pricing_model: 'PMP', category: 'service', type: 'free_customer_service' },
        };
  return envelope(wabaId, m.phoneNumberId, {
    statuses: [{ id: m.wamid, status, timestamp: seconds(atMs), recipient_id: m.to, ...(typeof cb === 'string' ? { biz_opaque_callback_data: cb } : {}), ...billing }],
  });
}
