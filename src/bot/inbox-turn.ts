/**
 * The inbox's part of a bot turn, in conversation order: what an agent's queued action, a
 * Handover Protocol event or a message the page's staff sent from elsewhere does to the
 * conversation's status, and the Handover Protocol calls that go with it (pass the thread to
 * the Page Inbox when a person is asked for, take it back before our agent speaks or the bot
 * answers again). Every status change is made with the event's id as its replay key, so an
 * event processed again after a crash makes the same change once and the same records.
 */
import type { AccountDirectory, AccountInbox } from '../channels/accounts';
import type { Channel } from '../channels/channel';
import { conversationKey, conversationOf, type ConversationRef } from '../channels/conversation';
import type { InboundEvent } from '../channels/event';
import type { ChatlogRecord } from '../chatlog/records';
import type { Inbox } from '../inbox/service';
import { HUMAN, PAGE_INBOX, type InboxOp, type InboxState } from '../inbox/state';
import type { Logger } from '../log';
import type { Metrics } from '../metrics';
import type { ConversationQueue } from '../queue/queue';
import type { BotTurn } from './handler';
import type { SentContents } from './sent-contents';

export interface InboxTurnDeps {
  inbox: Inbox;
  accounts?: AccountDirectory;
  /** The channels workers send on (thread control calls). */
  channels?: () => ReadonlyMap<string, Channel>;
  /** Queues the inbox's own follow-up events (a pass_thread_control after the bot's last reply). */
  queue?: ConversationQueue;
  logger: Logger;
  metrics?: Pick<Metrics, 'threadControl'>;
  /** Our keyed sends (Instagram), to tell the echoes of our replies from the account's people's messages. */
  contents?: SentContents;
}

export type Mode = BotTurn['mode'];

/** What one turn did to the inbox: its status records, and the mode switch they amount to. */
export class TurnInbox {
  readonly records: ChatlogRecord[] = [];
  mode: Mode;
  readonly ref: ConversationRef;
  readonly settings: AccountInbox;

  constructor(
    private readonly d: InboxTurnDeps,
    readonly e: InboundEvent,
    public state: InboxState,
  ) {
    this.ref = conversationOf(e);
    const account = d.accounts?.get(e.channel, e.account);
    this.settings = account?.inbox ?? (e.channel === 'messenger' || e.channel === 'instagram' ? { staffEchoes: true } : {});
  }

  get human(): boolean {
    return HUMAN.has(this.state.status);
  }

  /** One status change, replay-safe for this event. */
  async change(op: InboxOp, by: string, cause: string, o: { actor?: string; arg?: string | number } = {}): Promise<boolean> {
    const wasHuman = this.human;
    const c = await this.d.inbox.change(this.ref, op, { now: this.e.timestamp, by, cause, replay: this.e.id, id: `${this.e.id}|${op}`, guard: '*', ...o }, false);
    this.state = c.state;
    if (c.record) this.records.push(c.record);
    if (c.changed && wasHuman !== this.human) this.mode = { to: this.human ? 'human' : 'bot', cause };
    return c.changed;
  }

  /**
   * Whether this echo is of a reply of ours. Messenger's are never queued (our metadata confirms
   * them); an echo that names only its content (Instagram) is ours while a send of that content
   * is owed an echo (sent-contents.ts).
   */
  async ownEcho(): Promise<boolean> {
    if (this.e.contentKey === undefined || !this.d.contents) return false;
    return this.d.contents.isOurs(conversationKey(this.ref), this.e.id, this.e.contentKey);
  }

  /** Handover Protocol: pass the thread (to the Page Inbox) or take it back, if the account uses it. */
  async control(op: 'pass' | 'take', targetAppId = this.settings.pageInboxAppId): Promise<void> {
    if (!targetAppId) return;
    if (op === 'take' && this.state.thread !== 'inbox') return;
    const channel = this.d.channels?.().get(this.e.channel);
    if (channel?.threadControl) {
      try {
        const r = await channel.threadControl(this.ref, op, { ...(op === 'pass' ? { targetAppId } : {}), metadata: op === 'pass' ? 'a person was asked for' : 'back to the bot or an agent of ours' });
        this.d.metrics?.threadControl.inc({ op, result: r });
      } catch (err) {
        this.d.metrics?.threadControl.inc({ op, result: 'error' });
        this.d.logger.warn({ err, conversation: conversationKey(this.ref), op }, 'thread control call failed: the conversation goes on (an agent reply may be refused until the thread is ours)');
      }
    }
    await this.change('thread', 'bot', op === 'pass' ? 'pass_thread_control' : 'take_thread_control', { arg: op === 'pass' ? 'inbox' : '' });
  }

  /**
   * The bot asked for a person: waiting, and on a Page Inbox account a pass_thread_control
   * queued behind this event (so the bot's "a person will answer" goes out first, while the
   * thread is still ours). Its stable id makes a replayed event queue it once.
   */
  async handoff(cause: string): Promise<void> {
    await this.change('handoff', 'bot', cause);
    const app = this.settings.pageInboxAppId;
    if (!app || !this.d.queue || this.state.status !== 'waiting') return;
    const key = conversationKey(this.ref);
    const ev: InboundEvent = { ...this.ref, id: `handover:${this.e.id}`, kind: 'handover', payload: `pass:${app}`, timestamp: this.e.timestamp + 1, receivedAt: Date.now(), enqueuedAt: Date.now() };
    await this.d.queue.enqueue(key, [{ id: ev.id, timestamp: ev.timestamp, payload: JSON.stringify(ev), queue: true }]);
    // No markReady: this worker holds the conversation and drains its queue before letting go.
  }
}

/** The turn of an event that is not a user's message: an agent's action, the inbox's own events, thread control, echoes. */
export async function inboxEventTurn(t: TurnInbox): Promise<BotTurn | undefined> {
  const e = t.e;
  const agent = e.agent ?? 'admin';
  switch (e.kind) {
    case 'takeover':
      await t.control('take');
      await t.change('agent', agent, 'takeover', { actor: agent });
      return { replies: [] };
    case 'release':
      await t.control('take');
      await t.change('release', agent, 'release');
      return { replies: [] };
    case 'handover': {
      const [op, app] = (e.payload ?? '').split(':');
      // Only while a person is still expected: a conversation claimed or released meanwhile stays with us.
      if (op === 'pass' && t.state.status === 'waiting' && t.state.thread !== 'inbox') await t.control('pass', app);
      return { replies: [] };
    }
    case 'echo':
      // A message the page sent from elsewhere (the Page Inbox, the Pages app): a person is at work.
      if (t.settings.staffEchoes && !(await t.ownEcho())) await t.change('staff', PAGE_INBOX, 'page_echo', { actor: PAGE_INBOX });
      return { replies: [] };
    case 'take_thread_control':
      // Another app took the thread from us: its people answer now.
      await t.change('thread', PAGE_INBOX, 'thread_taken', { arg: 'inbox' });
      await t.change('staff', PAGE_INBOX, 'thread_taken', { actor: PAGE_INBOX });
      return { replies: [] };
    case 'pass_thread_control':
      // The thread came back to us (the staff marked it done in the Page Inbox).
      await t.change('thread', PAGE_INBOX, 'thread_passed', { arg: '' });
      if (t.state.agent === PAGE_INBOX || t.state.status === 'waiting') await t.change('release', PAGE_INBOX, 'page_inbox_done');
      return { replies: [] };
    case 'request_thread_control':
      // Another app asks for the thread: given when no agent of ours holds the conversation.
      if (t.state.status !== 'assigned' || t.state.agent === PAGE_INBOX) {
        await t.control('pass', e.thread?.requestedOwner);
        await t.change('staff', PAGE_INBOX, 'thread_requested', { actor: PAGE_INBOX });
      }
      return { replies: [] };
    default:
      return undefined;
  }
}
