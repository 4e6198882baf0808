/**
 * The inbox as the rest of the code uses it: a status change applied in Redis (state.ts) and,
 * when it changed something, told everyone who cares — a chatlog status record (who, why, from
 * what), an event to every gateway's admin app (events.ts), and the handoff alert to the
 * team's webhook when a conversation starts waiting (alerts.ts). The worker takes the record
 * back to append it with its event's records (before the ack); the admin API appends it.
 */
import crypto from 'node:crypto';
import type { ConversationRef } from '../channels/conversation';
import { conversationKey } from '../channels/conversation';
import type { StatusRecord } from '../chatlog/records';
import type { ChatlogStream } from '../chatlog/stream';
import type { Logger } from '../log';
import type { Metrics } from '../metrics';
import type { HandoffAlerts } from './alerts';
import type { InboxBus } from './events';
import type { ApplyOptions, Change, InboxOp, InboxStore } from './state';

export interface ChangeOptions extends ApplyOptions {
  /** Who makes the change: an agent's name, 'bot' or 'system'. */
  by: string;
  cause: string;
  /** The status record's id (a worker's: derived from its event, so a replay writes one row). */
  id?: string;
  /** The user's display name, for the alert. */
  name?: string;
}

export interface InboxDeps {
  bus?: InboxBus;
  alerts?: HandoffAlerts;
  chatlog?: ChatlogStream;
  logger: Logger;
  metrics?: Pick<Metrics, 'inboxChanges'>;
  accountName?: (channel: string, account: string) => string | undefined;
}

export type Changed = Change & { record?: StatusRecord };

export class Inbox {
  constructor(
    readonly store: InboxStore,
    private readonly d: InboxDeps,
  ) {}

  /**
   * Applies `op`; on a change, makes its status record and tells the app and the team.
   * `append`: write the record to the chatlog here (the admin API, the janitor); the worker
   * passes false and appends it with its event's records.
   */
  async change(ref: ConversationRef, op: InboxOp, o: ChangeOptions, append = true): Promise<Changed> {
    const key = conversationKey(ref);
    const c = await this.store.apply(key, op, o);
    if (!c.changed) return c;
    const s = c.state;
    const record: StatusRecord = {
      t: 'status',
      channel: ref.channel,
      account: ref.account,
      user: ref.user,
      status: s.status,
      from: c.from,
      cause: o.cause,
      by: o.by,
      at: s.since,
      id: o.id ?? `api:${crypto.randomUUID()}`,
      ...(s.agent ? { agent: s.agent } : {}),
      ...(s.waitingSince ? { waitingSince: s.waitingSince } : {}),
      ...(s.snoozeUntil ? { snoozedUntil: s.snoozeUntil } : {}),
    };
    this.d.metrics?.inboxChanges.inc({ to: s.status, cause: o.cause });
    this.d.logger.info({ conversation: key, from: c.from, to: s.status, agent: s.agent, by: o.by, cause: o.cause }, 'inbox status changed');
    if (append) await this.d.chatlog?.append([record]);
    this.d.bus?.publish({
      type: 'status',
      key,
      channel: ref.channel,
      account: ref.account,
      user: ref.user,
      from: c.from,
      to: s.status,
      by: o.by,
      cause: o.cause,
      at: s.since,
      ...(s.agent ? { agent: s.agent } : {}),
      ...(s.waitingSince ? { waitingSince: s.waitingSince } : {}),
      ...(o.name ? { name: o.name } : {}),
    });
    if (s.status === 'waiting' && c.from !== 'waiting') {
      const accountName = this.d.accountName?.(ref.channel, ref.account);
      this.d.alerts?.notify({ key, ...ref, cause: o.cause, at: s.waitingSince ?? s.since, ...(accountName ? { accountName } : {}), ...(o.name ? { name: o.name } : {}) });
    }
    return { ...c, record };
  }
}
