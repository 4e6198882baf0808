/**
 * `object: "instagram"` bodies of POST /webhook: the Messenger Platform's messaging format
 * (src/channels/meta/messaging.ts) with what Instagram adds, as Meta documents it
 * (https://developers.facebook.com/docs/instagram-platform/webhooks/examples): story replies
 * (`reply_to.story`), unsent messages (`is_deleted`), media Instagram could not pass on
 * (`is_unsupported`), ad referrals on a message, edits (`message_edit`), and echoes of the
 * account's own messages on the `messages` field, without metadata: an echo yields a
 * confirmation key instead (confirm.ts). Shares, reels and story mentions are attachments whose
 * type names the event's kind; seen events are `read` with a `mid`. Account = the Instagram
 * professional account (entry.id, the recipient of a user's message); user = the
 * Instagram-scoped id (IGSID).
 */
import { WebhookInputError, type ParseResult } from '../event';
import { compact, isObj, num, parseMessaging, str, type MessagingDialect, type Reading } from '../meta/messaging';
import { echoKey } from './confirm';

type Obj = Record<string, unknown>;

function message(m: Obj, common: Reading | undefined, path: string, echo: boolean): Reading | undefined {
  const mid = str(m.mid)!; // the common reading has checked it
  // An unsend (by the user, or the account from its inbox) names the message it took back; its
  // own id differs from the message's so that the dedupe does not take it for a redelivery.
  if (m.is_deleted === true) {
    if (!mid) throw new WebhookInputError(`${path}.message.mid must name the message that was deleted`);
    return { kind: 'deleted', fields: { id: `deleted:${mid}`, replyTo: mid } };
  }
  if (echo) {
    const confirmsKey = echoKey(m);
    // The key twice: the ledger's count (confirmsKey) and, on the event, the inbox's question "ours or a person's?".
    return common && { kind: common.kind, fields: { ...common.fields, ...(confirmsKey ? { confirmsKey, contentKey: confirmsKey } : {}) } };
  }
  if (m.is_unsupported === true && !common) return { kind: 'unsupported', fields: mid ? { mid } : {} };
  if (!common) return undefined;
  const replyTo = isObj(m.reply_to) ? m.reply_to : undefined;
  const story = isObj(replyTo?.story) ? replyTo.story : undefined;
  const ref = isObj(m.referral) ? m.referral : undefined;
  if (story && str(story.id) === undefined && str(story.url) === undefined) throw new WebhookInputError(`${path}.message.reply_to.story must have an id or a url`);
  return {
    kind: common.kind,
    fields: {
      ...common.fields,
      ...(story ? { story: compact({ id: str(story.id), url: str(story.url) }) } : {}),
      ...(ref ? { referral: compact({ ref: str(ref.ref), source: str(ref.source), type: str(ref.type) }) } : {}),
    },
  };
}

function other(ev: Obj, path: string): Reading | undefined {
  if (!isObj(ev.message_edit)) return undefined;
  const edit = ev.message_edit;
  const mid = str(edit.mid);
  if (!mid) throw new WebhookInputError(`${path}.message_edit.mid is required`);
  // Each edit of a message is its own event: the edit count tells them apart.
  const n = num(edit.num_edit) ?? (typeof edit.num_edit === 'string' ? edit.num_edit : undefined);
  return { kind: 'edit', fields: compact({ id: `edit:${mid}:${n ?? 0}`, replyTo: mid, text: str(edit.text) }) };
}

export const INSTAGRAM_DIALECT: MessagingDialect = { message, other };

/** `object: "instagram"` bodies of POST /webhook. */
export const parseInstagramWebhook = (body: Record<string, unknown>, receivedAt: number): ParseResult => parseMessaging('instagram', body, receivedAt, INSTAGRAM_DIALECT);
