/**
 * Claiming is exclusive: an agent takes a conversation only if nobody else holds it (inbox-n.lua
 * decides atomically); a second agent gets 409 with who holds it and since when. Taking over,
 * replying and the inbox's own actions all go through here first; admins may act on a
 * conversation someone else holds (reassign, resolve), agents only on their own or free ones.
 */
import crypto from 'node:crypto';
import type { ConversationRef } from '../channels/conversation';
import type { InboundEvent } from '../channels/event';
import { EnqueueCode } from '../queue/errors';
import type { ConversationQueue } from '../queue/queue';
import type { Inbox } from '../inbox/service';
import type { Change, InboxOp } from '../inbox/state';
import type { Metrics } from '../metrics';
import { HttpError } from './http';
import type { Principal } from './users';

export type Scoped = ConversationRef & { key: string };

/** The guard of an admin op: admins of every account act on anyone's conversation; others on their own or free ones. */
export const guardOf = (p: Principal): string => (p.role === 'admin' ? '*' : p.name);

export function conflict(c: Change): HttpError {
  return new HttpError(409, `${c.state.agent} holds this conversation (since ${new Date(c.state.since).toISOString()})`, { agent: c.state.agent, since: new Date(c.state.since).toISOString() });
}

/** Claims for the caller, or throws 409 naming who holds it. */
export async function claim(inbox: Inbox, c: Scoped, p: Principal, cause: string, metrics?: Pick<Metrics, 'inboxClaims'>): Promise<Change> {
  const r = await inbox.change(c, 'claim', { now: Date.now(), actor: p.name, guard: p.name, by: p.name, cause });
  metrics?.inboxClaims.inc({ result: r.code });
  if (r.code === 'conflict') throw conflict(r);
  return r;
}

/** An op of the admin API on a conversation (unassign, resolve, snooze, release, assign): 409 if someone else holds it. */
export async function act(inbox: Inbox, c: Scoped, p: Principal, op: InboxOp, cause: string, o: { actor?: string; arg?: string | number } = {}): Promise<Change> {
  const r = await inbox.change(c, op, { now: Date.now(), guard: guardOf(p), by: p.name, cause, ...o });
  if (r.code === 'conflict') throw conflict(r);
  return r;
}

/** Queues an event in the conversation's own queue (the one path ingest uses); 503 when it cannot. */
export async function queueEvent(queue: ConversationQueue, c: Scoped, kind: InboundEvent['kind'], fields: Partial<InboundEvent> = {}): Promise<EnqueueCode> {
  const now = Date.now();
  const event: InboundEvent = { id: `${kind}:${crypto.randomUUID()}`, kind, channel: c.channel, account: c.account, user: c.user, timestamp: now, receivedAt: now, enqueuedAt: now, ...fields };
  try {
    const r = await queue.enqueue(c.key, [{ id: event.id, timestamp: event.timestamp, payload: JSON.stringify(event), queue: true }]);
    await queue.markReady([c.key]);
    if (r.codes[0] === EnqueueCode.Refused) throw new HttpError(503, 'conversation queue full (QUEUE_OVERFLOW_MAX), retry later');
    return r.codes[0]!;
  } catch (err) {
    if (err instanceof HttpError) throw err;
    throw new HttpError(503, 'queue unavailable, retry later');
  }
}

export const stateJson = (s: Change['state']) => ({
  status: s.status,
  ...(s.agent ? { agent: s.agent } : {}),
  since: new Date(s.since || Date.now()).toISOString(),
  ...(s.waitingSince ? { waitingSince: new Date(s.waitingSince).toISOString() } : {}),
  ...(s.snoozeUntil ? { snoozeUntil: new Date(s.snoozeUntil).toISOString() } : {}),
  ...(s.thread ? { thread: s.thread } : {}),
});
