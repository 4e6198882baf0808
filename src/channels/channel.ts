/**
 * The channel port: the one seam between the platform-neutral core (gateway ingest, queue,
 * worker, bot, chatlog, admin) and a platform. An adapter under `src/channels/<name>/`
 * implements `Channel` (render, send, sender actions, policy, how a send is confirmed) and,
 * for platforms that call us, an `Ingress` (verify, handshake, parse into neutral events).
 * The core imports this file and the neutral types beside it, never an adapter; `app.ts`
 * wires adapters in through `channels/registry.ts`. How to add one: docs/channels.md.
 */
import type { ConversationRef } from './conversation';
import type { InboundEvent, ParseResult, ReplyRef } from './event';
import type { Author, Rendered, Rendering, Reply } from './reply';

/**
 * How the reply ledger learns, after a crash mid-send, whether a reply went out:
 * - `echo`: the platform reports each send back in a webhook that names it (Messenger's echo
 *   with our metadata, WhatsApp's status with our callback data); the ingress turns it into a
 *   `confirms` of the reply. A reply found half-sent waits for it (SEND_ECHO_GRACE_MS), then is
 *   sent again only if nothing confirmed it. Where the report names only the content
 *   (Instagram), the channel gives a `confirmationKey` and the ingress a `confirmsKey`.
 * - `idempotent`: every send carries a key derived from the reply (LINE's X-Line-Retry-Key, our
 *   own web chat outbox); sending again is harmless, so a half-sent reply is sent again at once.
 */
export type Confirmation = 'echo' | 'idempotent';

export interface ChannelPolicy {
  /** A bot may answer a user's message at most this long after it (Messenger, WhatsApp: 24 h); undefined: no window. */
  replyWindowMs?: number;
  /** Longest text of one platform message; longer replies are split by `render`. */
  maxTextLength: number;
  maxQuickReplies: number;
  maxButtons: number;
}

export interface SendContext {
  to: ConversationRef;
  /** Which reply this is: reply `index` of inbound event `event`. */
  ref: ReplyRef;
  /** What the send must carry for an `echo` confirmation (`replyToken(ref)`). */
  token: string;
  /** Stable for this reply across resends, for an `idempotent` confirmation. */
  idempotencyKey: string;
  author: Author;
  /** The event being answered (an agent's action for agent replies). */
  about: InboundEvent;
}

export interface SendResult {
  /** The platform's id of the sent message (the chatlog row's mid); receipts name it. */
  messageId?: string;
  attempts: number;
}

export type SenderAction = 'typing' | 'seen';

export interface Channel<Body = unknown> {
  /** `messenger`, `whatsapp`, …: the `channel` of the events its ingress parses. */
  readonly type: string;
  readonly confirmation: Confirmation;
  readonly policy: ChannelPolicy;
  /** Deterministic: the same replies render the same messages (a resumed event resends what it would have sent). */
  render(replies: readonly Reply[], to: ConversationRef, author: Author): Rendering<Body>;
  /** Sends one rendered message; rejects with a `SendError`. */
  send(message: Rendered<Body>, ctx: SendContext): Promise<SendResult>;
  /**
   * Best effort, one attempt, short timeout: cosmetic, never worth delaying a reply. An agent's
   * typing (`about` of kind `agent`) names the user's latest message in `about.replyTo` where the
   * channel needs one (`typingNamesMessage`).
   */
  senderAction?(to: ConversationRef, action: SenderAction, about: InboundEvent): Promise<void>;
  /** The typing indicator names a message of the user's (WhatsApp's marks it read): the inbox keeps the latest's id. */
  readonly typingNamesMessage?: boolean;
  /**
   * For an `echo` channel whose confirmations cannot carry `ctx.token` (Instagram's echo has no
   * metadata): the key of this message's content that its confirmation will also yield
   * (`ParsedEvent.confirmsKey`). The ledger then marks the send with the key and counts the
   * confirmations of that content against the sends of it, so that an echo of an earlier
   * identical message never passes for this one (src/queue/lua/reply-2.lua). Deterministic.
   */
  confirmationKey?(message: Rendered<Body>, to: ConversationRef): string | undefined;
  /** Who the user is, from the platform's profile API (cached by the caller); undefined when the platform tells nothing. */
  profile?(to: ConversationRef): Promise<UserProfile | undefined>;
  /**
   * Messenger's Handover Protocol: pass the thread to another app (`targetAppId`, e.g. the Page
   * Inbox) or take it back. Rejects with a SendError; taking a thread we own, or passing one we
   * no longer own, is reported as `already` rather than an error.
   */
  threadControl?(to: ConversationRef, op: 'pass' | 'take', o: { targetAppId?: string; metadata?: string }): Promise<'done' | 'already'>;
}

export interface UserProfile {
  name?: string;
  firstName?: string;
  avatarUrl?: string;
}

/** A platform that calls us over HTTP: where, and how its requests are checked and read. */
export interface Ingress {
  /** The POST path (`/webhook`, `/webhook/line`). */
  readonly path: string;
  /** GET on the same path: a subscription handshake (Meta's `hub.challenge`). */
  handshake?(query: Record<string, unknown>): { status: number; body: string | { error: string } };
  /**
   * Verifies a POST over its exact bytes and parses every event of it, or throws a
   * `WebhookInputError` (403 bad signature, 400 bad input) having queued nothing.
   */
  accept(raw: Buffer, header: (name: string) => string | undefined, receivedAt: number): ParseResult;
}

/** A send that failed; the ledger decides from these flags whether to retry, wait or skip. */
export class SendError extends Error {
  override readonly name = 'SendError';
  constructor(
    message: string,
    readonly context: {
      channel: string;
      /** The platform's error code, or 'network' / 'timeout' / 'http_<status>' / 'no_token'. */
      code: string;
      status?: number;
      /** Worth trying again (later). */
      retryable: boolean;
      /** The request may have reached the platform (timeout, connection cut after sending): resending could duplicate. */
      uncertain?: boolean;
      /** Certainly nothing was delivered (an error answer, a refused connection). */
      notSent?: boolean;
      attempts: number;
      account: string;
      user: string;
      /** Platform details worth logging (trace ids, subcodes). */
      detail?: Record<string, unknown>;
    },
  ) {
    super(message);
  }
  get code(): string {
    return this.context.code;
  }
  get retryable(): boolean {
    return this.context.retryable;
  }
  get uncertain(): boolean {
    return this.context.uncertain === true;
  }
  get definitelyNotSent(): boolean {
    return this.context.notSent === true;
  }
}
