/**
 * The right to be forgotten, one service behind its three doors: a platform's data-deletion
 * callback (Meta's), `npm run forget`, and the admin API (admins only). Erases a user's
 * conversations — on one account, on every account of a channel, or everywhere — from Redis
 * (queues, dedupe markers, reply ledgers, dialog context, channel caches) and from the chatlog
 * (messages, notes, conversations, with a tombstone against records still in flight), tracks
 * the request under a confirmation code, and logs who asked.
 */
import { parseConversationKey, conversationKey, type ConversationRef } from '../channels/conversation';
import { completeDeletionRequest, conversationsOf, eraseConversations, openDeletionRequest, type Erased, type Subject } from '../chatlog/forget';
import type { SqlClient } from '../chatlog/sql';
import type { Logger } from '../log';
import { conversationsOfUser, eraseConversationKeys } from '../queue/erase';
import type { ConversationQueue } from '../queue/queue';

export interface ForgetResult {
  code: string;
  conversations: ConversationRef[];
  erased: Erased & { redisKeys: number };
}

export class ForgetUnavailableError extends Error {
  override readonly name = 'ForgetUnavailableError';
}

export class Forgetter {
  constructor(private readonly d: { queue: ConversationQueue; db?: SqlClient; logger: Logger; lockWaitMs: number }) {}

  /**
   * Erases everything a subject names — or several subjects, as one request under one
   * confirmation code (one person known under several ids: Meta's page-scoped ids); `by` is
   * who asked ('facebook', 'cli', an admin's name).
   */
  async forget(subjects: Subject | readonly Subject[], by: string): Promise<ForgetResult> {
    const db = this.d.db;
    // The request is tracked in the chatlog database: without one, nothing could be proven erased.
    if (!db) throw new ForgetUnavailableError('the chatlog database is not available to this process (set DATABASE_URL)');
    const list: readonly Subject[] = Array.isArray(subjects) ? subjects : [subjects as Subject];
    if (list.length === 0) throw new Error('forget: no subject');
    const code = await openDeletionRequest(db, by, list.length === 1 ? list[0]! : list);
    this.d.logger.info({ code, by, subjects: list.map((x) => ({ channel: x.channel, account: x.account })) }, 'data deletion requested');
    const refs = new Map<string, ConversationRef>();
    for (const subject of list) await this.collect(db, subject, refs);
    let redisKeys = 0;
    for (const key of refs.keys()) redisKeys += await eraseConversationKeys(this.d.queue, key, this.d.lockWaitMs);
    const erased = { ...(await eraseConversations(db, [...refs.values()])), redisKeys };
    await completeDeletionRequest(db, code, erased);
    this.d.logger.info({ code, by, ...erased }, 'data deleted');
    return { code, conversations: [...refs.values()], erased };
  }

  /** The conversations a subject names, in the chatlog and in Redis, added to `refs`. */
  private async collect(db: SqlClient, subject: Subject, refs: Map<string, ConversationRef>): Promise<void> {
    const matches = (c: ConversationRef) => c.user === subject.user && (!subject.channel || c.channel === subject.channel) && (!subject.account || c.account === subject.account);
    for (const c of await conversationsOf(db, subject)) refs.set(conversationKey(c), { channel: c.channel, account: c.account, user: c.user });
    // Conversations only Redis knows yet (queued, not logged): found by their keys.
    for (const key of await conversationsOfUser(this.d.queue, subject.user)) {
      const c = parseConversationKey(key);
      if (c && matches(c)) refs.set(key, c);
    }
    if (subject.channel && subject.account) refs.set(conversationKey(subject as ConversationRef), { channel: subject.channel, account: subject.account, user: subject.user });
  }
}
