/**
 * The admin API (`/admin/api`). Reads come from the chatlog, scoped in SQL to the caller's
 * accounts; a conversation of another account is a 404, never a 403, so ids leak nothing. Agent
 * actions — take over, reply, release — are queued in the conversation's own queue, behind
 * what the user already sent, so bot and agent never overtake each other (202: durably
 * queued; the worker carries it out in order).
 */
import crypto from 'node:crypto';
import express, { type Request, type Response } from 'express';
import type { AccountDirectory } from '../channels/accounts';
import { conversationKey, parseConversationKey, type ConversationRef } from '../channels/conversation';
import type { AgentKind, InboundEvent } from '../channels/event';
import type { Logger } from '../log';
import type { Metrics } from '../metrics';
import type { ContextStore } from '../bot/context';
import { addNote, conversationIdOf, conversationMessages, correctIntent, inScope, isRowId, listConversations, notesOf, stats } from '../chatlog/queries';
import type { SqlClient } from '../chatlog/sql';
import type { ConversationQueue } from '../queue/queue';
import { EnqueueCode } from '../queue/errors';
import { bearer, principalOf, requireAgent, requireAuth } from './auth';
import { HttpError, route } from './http';
import { act, claim } from './claims';
import { inboxRouter, type InboxApiDeps } from './inbox-api';
import { toolsRouter, type ToolsApiDeps } from './tools-api';
import { STATUSES } from '../inbox/state';
import type { LiveFeed } from './live';
import { modelsRouter } from './models';
import { privacyRouter } from './privacy';
import { OPENAPI } from './openapi';
import type { Forgetter } from '../privacy/forgetter';
import { nulFreeBody, plainQuery } from './plain-input';
import type { PresenceSource } from '../channels/presence';
import { presenceRouter } from './presence';
import { EXPORT_FORMATS, ExportInputError, checkExport, exportMessages, parseExportFilters, parseExportFormat } from '../chatlog/export';
import type { ModelStore } from '../nlu/store';
import { SignInError, type Sessions } from './session';
import { canAct, canSee, type Principal } from './users';

export interface AdminDeps {
  sessions?: Sessions;
  queue: ConversationQueue;
  contexts: ContextStore;
  accounts: AccountDirectory;
  logger: Logger;
  /** The chatlog, for the read views; without it they answer 503. */
  db?: SqlClient;
  live?: LiveFeed;
  /** Messages below this score are "low confidence" (NLU_THRESHOLD). */
  threshold: number;
  /** Intents the model knows, for label correction. */
  intents: () => readonly string[];
  models: ModelStore;
  /** NLU_CORPUS, for retraining. */
  corpus?: string;
  /** EXPORT_ID_SECRET: stable user pseudonyms across exports. */
  exportIdSecret?: string;
  /** CHATLOG_RETENTION_DAYS: exports leave out older messages. */
  retentionDays?: number;
  /** Erasure on request (admins only); absent without a chatlog database. */
  forgetter?: Forgetter;
  /** Counts agent actions that wait in the overflow list or are refused, as the webhook's events are. */
  metrics?: Pick<Metrics, 'overflow' | 'overflowRefused' | 'inboxClaims'>;
  /** The agent inbox (statuses, claims, presence, tools); its routes answer 503 without it. */
  inbox?: Omit<InboxApiDeps, 'queue' | 'accounts' | 'db' | 'logger'> & Omit<ToolsApiDeps, 'accounts' | 'db' | 'logger' | 'profiles'>;
  /** Online and typing of the user, for channels that have it (web chat). */
  presence?: PresenceSource;
}

const CLIENT_ID = /^[A-Za-z0-9_.:-]{1,100}$/;
const ACCOUNT_KEY = /^[a-z][a-z0-9_-]{0,31}:[A-Za-z0-9_.@+=-]{1,128}$/;
/** An agent's reply; each channel splits what its platform cannot take in one message. */
const MAX_TEXT = 5_000;

export { HttpError };

export function adminRouter(d: AdminDeps): express.Router {
  const r = express.Router();
  // Public, like sign-in (it holds no secret), and before any parsing: it reads no input.
  r.get('/openapi.json', (_req, res) => void res.set('cache-control', 'no-store').json(OPENAPI));
  r.use(express.json({ limit: '64kb', strict: true }));
  r.use((_req, res, next) => {
    res.set('cache-control', 'no-store');
    next();
  });
  r.use(plainQuery({ '/export': ['page', 'intent'] }), nulFreeBody);

  const db = (): SqlClient => {
    if (!d.db) throw new HttpError(503, 'the chatlog is not available to this process (set DATABASE_URL)');
    return d.db;
  };

  // Sign-in is the one route without a bearer token (but /openapi.json, above).
  r.post(
    '/session',
    route(async (req, res) => {
      if (!d.sessions) throw new HttpError(503, 'admin API disabled: set ADMIN_TOKEN or ADMIN_USERS_FILE');
      try {
        const { token, principal } = await d.sessions.signIn(req.ip ?? 'unknown', (req.body ?? {}) as Record<string, unknown>);
        d.logger.info({ user: principal.name, role: principal.role }, 'admin signed in');
        res.status(201).json({ token, ...principal, accounts: principal.accounts ?? '*' });
      } catch (err) {
        if (!(err instanceof SignInError)) throw err;
        d.logger.warn({ ip: req.ip, user: typeof req.body?.user === 'string' ? req.body.user : undefined, status: err.status }, 'admin sign-in refused');
        if (err.retryAfterS) res.set('retry-after', String(err.retryAfterS));
        res.status(err.status).json({ error: err.message });
      }
    }),
  );
  r.use(requireAuth(d.sessions));
  r.delete(
    '/session',
    route(async (req, res) => {
      await d.sessions!.signOut(bearer(req)!);
      d.live?.endSession(bearer(req)!);
      res.status(204).end();
    }),
  );
  r.get('/me', (_req, res) => {
    const p = principalOf(res);
    // The accounts this user can pick in filters: their own, or every account this deployment lists.
    const all = d.accounts.list();
    const pickable = p.accounts ? all.filter((a) => canSee(p, a.channel, a.id)) : all;
    res.json({
      name: p.name,
      role: p.role,
      accounts: p.accounts ?? '*',
      intents: d.intents(),
      pickableAccounts: pickable.map((a) => ({ key: `${a.channel}:${a.id}`, channel: a.channel, id: a.id, ...(a.name ? { name: a.name } : {}) })),
      channels: d.accounts.channels(),
    });
  });

  /** The conversation a URL names, if the caller may see it (404 otherwise). */
  const conversationOf = (req: Request): ConversationRef & { key: string } => {
    const c = parseConversationKey(String(req.params.id));
    if (!c) throw new HttpError(400, 'conversation id must be a conversation key: <channel>:<account id>:<user id> (Messenger: <page id>:<user PSID>)');
    if (!d.accounts.serves(c.channel, c.account) || !canSee(principalOf(res(req)), c.channel, c.account)) throw new HttpError(404, 'no such conversation');
    return { ...c, key: conversationKey(c) };
  };
  const res = (req: Request) => req.res!;
  const scope = (req: Request) => principalOf(res(req)).accounts;
  /** `account=<channel>:<id>`, or the older `page=<page id>` (a Messenger page). */
  const accountFilter = (q: Record<string, string | undefined>): string | undefined => {
    const a = q.account ?? (q.page ? `messenger:${q.page}` : undefined);
    if (a !== undefined && a !== '' && !ACCOUNT_KEY.test(a)) throw new HttpError(400, 'account must be <channel>:<account id>, e.g. messenger:1234');
    return a || undefined;
  };

  r.get(
    '/conversations',
    route(async (req, res) => {
      const q = req.query as Record<string, string | undefined>;
      const date = (name: string) => {
        const v = q[name];
        if (v === undefined || v === '') return undefined;
        const t = new Date(v);
        if (Number.isNaN(t.getTime())) throw new HttpError(400, `${name} must be a date (ISO 8601)`);
        return t;
      };
      if (q.status && q.status !== 'human' && !STATUSES.includes(q.status as never)) throw new HttpError(400, `status must be one of ${STATUSES.join(', ')} (or human: waiting, assigned or snoozed)`);
      const limit = q.limit === undefined ? undefined : Number(q.limit);
      if (limit !== undefined && (!Number.isInteger(limit) || limit < 1 || limit > 200)) throw new HttpError(400, 'limit must be an integer from 1 to 200');
      const from = date('from');
      const to = date('to');
      const account = accountFilter(q);
      const list = await listConversations(db(), {
        ...(scope(req) ? { scope: scope(req) } : {}),
        ...(account ? { account } : {}),
        ...(q.channel ? { channel: q.channel } : {}),
        ...(q.status ? { status: q.status } : {}),
        ...(q.agent ? { agent: q.agent } : {}),
        ...(q.intent ? { intent: q.intent } : {}),
        ...(q.q ? { q: q.q } : {}),
        ...(q.lowConfidence === '1' || q.lowConfidence === 'true' ? { lowConfidenceBelow: d.threshold } : {}),
        ...(from ? { from } : {}),
        ...(to ? { to } : {}),
        ...(q.cursor ? { cursor: q.cursor } : {}),
        ...(limit ? { limit } : {}),
      });
      res.json(list);
    }),
  );

  r.get(
    '/conversations/:id',
    route(async (req, res) => {
      const c = conversationOf(req);
      const key = c.key;
      const id = await conversationIdOf(db(), c, scope(req));
      if (!id) throw new HttpError(404, 'no such conversation');
      const view = await conversationMessages(db(), id, scope(req));
      if (!view) throw new HttpError(404, 'no such conversation');
      const p = principalOf(res);
      const state = await d.contexts.peek(key).catch(() => undefined);
      const inbox = await d.inbox?.inbox.store.read(key).catch(() => undefined);
      res.json({
        ...view,
        ...(inbox ? { inbox: { status: inbox.status, ...(inbox.agent ? { agent: inbox.agent } : {}), since: new Date(inbox.since || Date.now()).toISOString(), ...(inbox.thread ? { thread: inbox.thread } : {}) } } : {}),
        // Notes are for the team: viewers (read-only access) do not get them.
        notes: canAct(p) ? await notesOf(db(), id) : [],
        ...(state ? { mode: state.mode, ...(state.agent ? { agent: state.agent } : {}) } : {}),
        lowConfidenceBelow: d.threshold,
      });
    }),
  );

  r.get(
    '/conversations/:id/state',
    route(async (req, res) => {
      const s = await d.contexts.peek(conversationOf(req).key);
      res.json({ mode: s.mode, ...(s.agent ? { agent: s.agent } : {}), ...(s.humanSince ? { humanSince: new Date(s.humanSince).toISOString() } : {}), slots: s.slots });
    }),
  );

  r.post(
    '/conversations/:id/notes',
    requireAgent,
    route(async (req, res) => {
      const c = conversationOf(req);
      const text = (req.body as { text?: unknown } | undefined)?.text;
      if (typeof text !== 'string' || !text.trim() || text.length > 5_000) throw new HttpError(400, '"text" must be a non-empty string of at most 5000 characters');
      const id = await conversationIdOf(db(), c, scope(req));
      if (!id) throw new HttpError(404, 'no such conversation');
      res.status(201).json(await addNote(db(), id, principalOf(res).name, text));
    }),
  );

  r.post(
    '/messages/:mid/label',
    requireAgent,
    route(async (req, res) => {
      const body = (req.body ?? {}) as { intent?: unknown; correct?: unknown };
      let intent: string | null;
      if (body.correct === true)
        intent = null; // "the prediction was right": clears any correction
      else if (typeof body.intent === 'string' && /^[A-Za-z0-9_.-]{1,64}$/.test(body.intent)) intent = body.intent;
      else throw new HttpError(400, 'send {"intent": "<intent name>"} or {"correct": true}');
      // Marking correct stores the predicted intent as the label, so it counts as reviewed.
      const ok = intent === null ? await confirm(db(), String(req.params.mid), principalOf(res).name, scope(req)) : await correctIntent(db(), String(req.params.mid), intent, principalOf(res).name, scope(req));
      if (!ok) throw new HttpError(404, 'no such inbound message');
      res.json({ id: String(req.params.mid), correctedIntent: intent ?? 'predicted' });
    }),
  );

  r.get(
    '/stats',
    route(async (req, res) => {
      const q = req.query as Record<string, string | undefined>;
      const to = q.to ? new Date(q.to) : new Date();
      const from = q.from ? new Date(q.from) : new Date(to.getTime() - 24 * 3_600_000);
      if (Number.isNaN(from.getTime()) || Number.isNaN(to.getTime())) throw new HttpError(400, 'from and to must be dates (ISO 8601)');
      const account = accountFilter(q);
      const p = principalOf(res);
      const accounts = account ? (canSee(p, account.slice(0, account.indexOf(':')), account.slice(account.indexOf(':') + 1)) ? [account] : []) : scope(req);
      res.json(await stats(db(), { from, to, ...(accounts ? { scope: accounts } : {}), ...(q.channel ? { channel: q.channel } : {}) }));
    }),
  );

  r.use(inboxRouter(d.inbox && { ...d.inbox, queue: d.queue, accounts: d.accounts, logger: d.logger, ...(d.db ? { db: d.db } : {}), ...(d.metrics ? { metrics: d.metrics } : {}) }));
  r.use(toolsRouter(d.inbox && { ...d.inbox, accounts: d.accounts, logger: d.logger, ...(d.db ? { db: d.db } : {}) }));
  r.use(privacyRouter({ ...(d.forgetter ? { forgetter: d.forgetter } : {}), accounts: d.accounts, logger: d.logger }));
  r.use(presenceRouter({ ...(d.presence ? { presence: d.presence } : {}), accounts: d.accounts, logger: d.logger }));
  r.use('/models', modelsRouter({ store: d.models, ...(d.db ? { db: d.db } : {}), ...(d.corpus ? { corpus: d.corpus } : {}), logger: d.logger }));

  // Streams the export: constant memory whatever the size; the caller's pages bound it.
  r.get(
    '/export',
    route(async (req, res) => {
      const { format: rawFormat, ...query } = req.query as Record<string, unknown>;
      let format;
      let filters;
      try {
        format = parseExportFormat(rawFormat);
        filters = parseExportFilters(query);
        checkExport(filters, format);
      } catch (err) {
        if (err instanceof ExportInputError) throw new HttpError(400, err.message);
        throw err;
      }
      const database = db();
      const f = EXPORT_FORMATS[format];
      res.status(200).set({ 'content-type': f.contentType, 'content-disposition': `attachment; filename="chatlog-export.${f.extension}"` });
      const counts = await exportMessages(database, filters, format, res, {
        ...(scope(req) ? { scope: scope(req) } : {}),
        ...(d.exportIdSecret ? { secret: d.exportIdSecret } : {}),
        ...(d.retentionDays ? { retentionDays: d.retentionDays } : {}),
      });
      d.logger.info({ by: principalOf(res).name, format, ...counts }, 'chatlog exported');
    }),
  );

  r.get('/live', (req, res) => {
    if (!d.live) return void res.status(503).json({ error: 'the chatlog is not available to this process (set DATABASE_URL)' });
    const token = bearer(req)!;
    d.live
      .watch(principalOf(res), res, token, () => d.sessions!.ended(token))
      .catch((err) => {
        d.logger.warn({ err }, 'live stream not started: chatlog unavailable');
        if (!res.headersSent) res.status(503).json({ error: 'the chatlog is unavailable, retry later' });
      });
  });

  const enqueue = async (req: Request, res: Response, kind: AgentKind, fields: Partial<InboundEvent> = {}, before?: () => Promise<unknown>) => {
    const c = conversationOf(req);
    const body = (req.body ?? {}) as Record<string, unknown>;
    // The agent is who signed in: a name in the body would let anyone speak (and be logged)
    // as someone else. A different name is refused rather than ignored, so a script that
    // still sends one learns that its messages would not carry that name.
    const agent = principalOf(res).name;
    if (body.agent !== undefined && body.agent !== agent) throw new HttpError(400, `"agent" is taken from the sign-in (you are signed in as ${agent}): leave it out`);
    // A client-chosen id makes a retried request harmless: the queue dedupes it like a webhook redelivery.
    const clientId = body.id;
    if (clientId !== undefined && (typeof clientId !== 'string' || !CLIENT_ID.test(clientId))) throw new HttpError(400, '"id" must be 1 to 100 letters, digits, _ . : or -');
    await before?.();
    const now = Date.now();
    const event: InboundEvent = {
      id: `${kind}:${clientId ?? crypto.randomUUID()}`,
      kind,
      channel: c.channel,
      account: c.account,
      user: c.user,
      timestamp: now,
      agent,
      receivedAt: now,
      enqueuedAt: now,
      ...fields,
    };
    const key = c.key;
    let result;
    try {
      result = await d.queue.enqueue(key, [{ id: event.id, timestamp: event.timestamp, payload: JSON.stringify(event), queue: true }]);
      await d.queue.markReady([key]);
    } catch (err) {
      d.logger.error({ err, conversation: key, kind }, 'agent action not queued: redis unavailable');
      throw new HttpError(503, 'queue unavailable, retry later (with the same "id", nothing is sent twice)');
    }
    const code = result.codes[0];
    if (code === EnqueueCode.Refused) {
      d.metrics?.overflowRefused.inc();
      throw new HttpError(503, 'conversation queue full (QUEUE_OVERFLOW_MAX), retry later (with the same "id", nothing is sent twice)');
    }
    if (code === EnqueueCode.Overflow) d.metrics?.overflow.inc();
    d.logger.info({ conversation: key, kind, id: event.id, agent, outcome: code }, 'agent action queued');
    res.status(202).json({ id: event.id, conversation: key, status: code === EnqueueCode.Duplicate ? 'duplicate' : code === EnqueueCode.Overflow ? 'overflow' : 'queued' });
  };
  // Taking over and replying claim the conversation first (409 while someone else holds it);
  // releasing needs it to be the caller's or free (admins: any).
  const claimed = async (req: Request, res: Response, cause: string) => {
    if (d.inbox) await claim(d.inbox.inbox, conversationOf(req), principalOf(res), cause, d.metrics);
  };
  r.post(
    '/conversations/:id/takeover',
    requireAgent,
    route(async (req, res) => {
      await enqueue(req, res, 'takeover', {}, () => claimed(req, res, 'takeover'));
    }),
  );
  r.post(
    '/conversations/:id/release',
    requireAgent,
    route(async (req, res) => {
      await enqueue(req, res, 'release', {}, async () => d.inbox && act(d.inbox.inbox, conversationOf(req), principalOf(res), 'release', 'release'));
    }),
  );
  r.post(
    '/conversations/:id/reply',
    requireAgent,
    route(async (req, res) => {
      const b = (req.body ?? {}) as { text?: unknown; attachment?: unknown };
      const attachment = b.attachment === undefined ? undefined : attachmentOf(b.attachment, conversationOf(req).key, d.inbox?.publicUrl());
      const text = b.text;
      if (text !== undefined || !attachment) {
        if (typeof text !== 'string' || text.trim() === '') throw new HttpError(400, '"text" must be a non-empty string (or send an "attachment")');
        if (text.length > MAX_TEXT) throw new HttpError(400, `"text" must be at most ${MAX_TEXT} characters`);
      }
      await enqueue(req, res, 'agent', { ...(typeof text === 'string' ? { text } : {}), ...(attachment ? { attachments: [attachment] } : {}) }, () => claimed(req, res, 'agent_reply'));
    }),
  );
  return r;
}

/** An attachment of an agent's reply: one uploaded to this conversation (`POST …/attachments`), nothing else. */
function attachmentOf(v: unknown, key: string, base: string | undefined): { type: string; url: string; title?: string } {
  const a = (typeof v === 'object' && v !== null && !Array.isArray(v) ? v : {}) as Record<string, unknown>;
  const prefix = base ? `${base}/files/${encodeURIComponent(key)}/` : undefined;
  if (typeof a.url !== 'string' || !prefix || !a.url.startsWith(prefix) || !/^[A-Za-z0-9_-]{32}$/.test(a.url.slice(prefix.length)))
    throw new HttpError(400, '"attachment.url" must be the url of a file uploaded to this conversation (POST …/attachments)');
  if (!['image', 'video', 'audio', 'file'].includes(String(a.type))) throw new HttpError(400, '"attachment.type" must be image, video, audio or file');
  if (a.name !== undefined && (typeof a.name !== 'string' || a.name.length > 100)) throw new HttpError(400, '"attachment.name" must be a string of at most 100 characters');
  return { type: String(a.type), url: a.url, ...(typeof a.name === 'string' ? { title: a.name } : {}) };
}

async function confirm(db: SqlClient, messageId: string, by: string, scope?: readonly string[]): Promise<boolean> {
  if (!isRowId(messageId)) return false;
  const r = await db.query<{ id: unknown }>(
    `UPDATE messages m SET corrected_intent = intent, corrected_by = $2, corrected_at = now()
     WHERE id = $1 AND direction = 'in' AND intent IS NOT NULL AND ${inScope('m', 3)} RETURNING id`,
    [messageId, by, scope ? [...scope] : null],
  );
  return r.length === 1;
}

export type { Principal };
