/**
 * The agent inbox's routes (`/admin/api`): the waiting queue (oldest first, scoped to the
 * caller's accounts), agents' presence, and what an agent does to a conversation — claim
 * (exclusive: 409 with who holds it), assign to someone else, unassign, resolve (with the
 * satisfaction survey), snooze, typing — plus the conversation's inbox state and its AI
 * suggestion. A claim also queues a `takeover` in the conversation's order, so its ordered
 * record shows it; resolving queues the survey the same way.
 */
import express from 'express';
import type { AccountDirectory } from '../channels/accounts';
import { parseConversationKey, type ConversationRef } from '../channels/conversation';
import { conversationIdOf } from '../chatlog/queries';
import { statusHistory } from '../chatlog/inbox-queries';
import type { SqlClient } from '../chatlog/sql';
import type { InboxBus } from '../inbox/events';
import type { ProfileService } from '../inbox/profiles';
import { presenceSees, type AgentPresence, type Presence } from '../inbox/presence';
import type { Inbox } from '../inbox/service';
import type { SuggestionStore } from '../inbox/suggestions';
import type { Logger } from '../log';
import type { Metrics } from '../metrics';
import type { ConversationQueue } from '../queue/queue';
import { principalOf, requireAgent } from './auth';
import { act, claim, queueEvent, stateJson } from './claims';
import { HttpError, route, scopedConversation } from './http';
import { canAct, canSee, type AdminUser, type Principal } from './users';

export interface InboxApiDeps {
  inbox: Inbox;
  presence: Presence;
  suggestions: SuggestionStore;
  profiles?: Pick<ProfileService, 'get'>;
  bus?: InboxBus;
  queue: ConversationQueue;
  accounts: AccountDirectory;
  db?: SqlClient;
  logger: Logger;
  /** CSAT_SURVEY: resolving queues the survey. */
  csat: boolean;
  /** ADMIN_USERS_FILE as in force: who a conversation may be assigned to. */
  users?: () => ReadonlyMap<string, AdminUser> | undefined;
  /** A typing indicator to the user through the channel, where this process can send. */
  typing?: (c: ConversationRef) => Promise<void>;
  metrics?: Pick<Metrics, 'inboxClaims'>;
}

const NAME = /^[A-Za-z0-9_.@-]{1,64}$/;
const MAX_SNOOZE_MS = 30 * 24 * 3_600_000;
const TYPING_EVERY_MS = 3_000;

export function inboxRouter(deps?: InboxApiDeps): express.Router {
  const r = express.Router();
  // Built without its dependencies too (the route list of the fuzzing test): each handler asks for them.
  const D = (): InboxApiDeps => {
    if (!deps) throw new HttpError(503, 'the agent inbox is not available in this process');
    return deps;
  };
  const conv = (req: express.Request) => scopedConversation(req, D().accounts);
  const me = (res: express.Response): Principal => principalOf(res);
  const body = (req: express.Request) => (req.body ?? {}) as Record<string, unknown>;

  r.get(
    '/inbox/waiting',
    route(async (_req, res) => {
      const d = D();
      const p = me(res);
      const now = Date.now();
      const visible = (await d.inbox.store.waiting(1_000))
        .map((w) => ({ ...w, ref: parseConversationKey(w.conversation) }))
        .filter((w): w is typeof w & { ref: ConversationRef } => !!w.ref && d.accounts.serves(w.ref.channel, w.ref.account) && canSee(p, w.ref.channel, w.ref.account))
        .slice(0, 200);
      const items = await Promise.all(
        visible.map(async (w) => {
          const profile = await d.profiles?.get(w.conversation).catch(() => undefined);
          return { key: w.conversation, channel: w.ref.channel, accountId: w.ref.account, userId: w.ref.user, waitingSince: new Date(w.since).toISOString(), waitedMs: Math.max(0, now - w.since), ...(profile ?? {}) };
        }),
      );
      res.json({ items });
    }),
  );

  r.get(
    '/inbox/agents',
    route(async (_req, res) => {
      const d = D();
      const p = me(res);
      const mine = (a: AgentPresence) => !p.accounts || p.accounts.some((k) => presenceSees(a, k));
      res.json({ items: (await d.presence.list()).filter(mine).map((a) => ({ name: a.name, status: a.status, at: new Date(a.at).toISOString() })) });
    }),
  );

  r.post(
    '/inbox/presence',
    requireAgent,
    route(async (req, res) => {
      const d = D();
      const status = body(req).status;
      if (status !== 'online' && status !== 'away') throw new HttpError(400, '"status" must be "online" or "away"');
      const p = me(res);
      if (await d.presence.beat(p.name, status, p.accounts)) d.bus?.publish({ type: 'presence', agent: p.name, status, accounts: p.accounts ?? '*', at: Date.now() });
      res.json({ name: p.name, status });
    }),
  );

  r.get(
    '/conversations/:id/inbox',
    route(async (req, res) => {
      const d = D();
      const c = conv(req);
      const state = await d.inbox.store.read(c.key);
      const id = d.db ? await conversationIdOf(d.db, c, me(res).accounts) : null;
      const profile = await d.profiles?.get(c.key);
      res.json({ ...stateJson(state), ...(profile ? { profile } : {}), history: id && d.db ? await statusHistory(d.db, id) : [] });
    }),
  );

  r.post(
    '/conversations/:id/claim',
    requireAgent,
    route(async (req, res) => {
      const d = D();
      const c = conv(req);
      const p = me(res);
      const r1 = await claim(d.inbox, c, p, 'claim', d.metrics);
      if (r1.changed) await queueEvent(d.queue, c, 'takeover', { agent: p.name });
      res.json(stateJson(r1.state));
    }),
  );

  r.post(
    '/conversations/:id/assign',
    requireAgent,
    route(async (req, res) => {
      const d = D();
      const c = conv(req);
      const target = body(req).agent;
      if (typeof target !== 'string' || !NAME.test(target)) throw new HttpError(400, '"agent" must be the name of an agent (1-64 letters, digits, _ . @ or -)');
      const users = d.users?.();
      const u = users?.get(target);
      if (users && (!u || !canAct(u) || !canSee(u, c.channel, c.account))) throw new HttpError(400, `"agent": ${target} is not an agent of this account`);
      const r1 = await act(d.inbox, c, me(res), 'assign', 'assign', { actor: target });
      if (r1.changed) await queueEvent(d.queue, c, 'takeover', { agent: target });
      res.json(stateJson(r1.state));
    }),
  );

  r.post(
    '/conversations/:id/unassign',
    requireAgent,
    route(async (req, res) => {
      const d = D();
      res.json(stateJson((await act(d.inbox, conv(req), me(res), 'unassign', 'unassign')).state));
    }),
  );

  r.post(
    '/conversations/:id/resolve',
    requireAgent,
    route(async (req, res) => {
      const d = D();
      const c = conv(req);
      const r1 = await act(d.inbox, c, me(res), 'resolve', 'resolve');
      // In the conversation's order: the thread back from the Page Inbox, then the survey (CSAT_SURVEY).
      if (r1.changed) await queueEvent(d.queue, c, 'csat', { id: `csat:${r1.state.since}`, payload: d.csat ? 'ask' : 'skip', agent: me(res).name });
      res.json(stateJson(r1.state));
    }),
  );

  r.post(
    '/conversations/:id/snooze',
    requireAgent,
    route(async (req, res) => {
      const d = D();
      const c = conv(req);
      const b = body(req);
      const until = typeof b.until === 'string' ? Date.parse(b.until) : typeof b.minutes === 'number' && Number.isInteger(b.minutes) ? Date.now() + b.minutes * 60_000 : NaN;
      if (!Number.isFinite(until) || until <= Date.now() || until > Date.now() + MAX_SNOOZE_MS) throw new HttpError(400, 'send {"until": "<ISO 8601 time>"} or {"minutes": <whole minutes>}: a time in the next 30 days');
      res.json(stateJson((await act(d.inbox, c, me(res), 'snooze', 'snooze', { arg: until })).state));
    }),
  );

  // Not queued: a typing indicator is cosmetic and must not wait behind the user's messages.
  const lastTyping = new Map<string, number>();
  r.post(
    '/conversations/:id/typing',
    requireAgent,
    route(async (req, res) => {
      const d = D();
      const c = conv(req);
      const p = me(res);
      const mark = `${p.name}|${c.key}`;
      const now = Date.now();
      if (now - (lastTyping.get(mark) ?? 0) >= TYPING_EVERY_MS) {
        if (lastTyping.size > 10_000) lastTyping.clear();
        lastTyping.set(mark, now);
        d.bus?.publish({ type: 'typing', key: c.key, channel: c.channel, account: c.account, agent: p.name, at: now });
        d.typing?.(c).catch((err) => d.logger.debug({ err, conversation: c.key }, 'typing indicator not sent (cosmetic)'));
      }
      res.status(202).json({ typing: true });
    }),
  );

  r.get(
    '/conversations/:id/suggestion',
    requireAgent,
    route(async (req, res) => {
      const d = D();
      const s = await d.suggestions.get(conv(req).key);
      res.json({ suggestion: s ? { text: s.text, intent: s.intent, score: s.score, forMessage: s.forMessage, at: new Date(s.at).toISOString() } : null });
    }),
  );

  return r;
}
