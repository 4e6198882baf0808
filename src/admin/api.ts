/**
 * The admin API (`/admin/api`). Agent actions on a conversation — take over, reply,
 * release — are queued in the conversation's own queue, behind the messages the user has
 * already sent, so bot and agent never overtake each other. The answer is 202: the action
 * is durably queued; the worker carries it out in order.
 */
import crypto from 'node:crypto';
import express, { type Request, type Response } from 'express';
import type { PageDirectory } from '../channels/messenger/pages';
import type { AgentKind, InboundEvent } from '../channels/messenger/types';
import type { Logger } from '../log';
import type { ContextStore } from '../bot/context';
import { conversationId, splitConversationId } from '../queue/keys';
import type { ConversationQueue } from '../queue/queue';
import { EnqueueCode } from '../queue/errors';
import { requireAdmin } from './auth';

export interface AdminDeps {
  token?: string;
  queue: ConversationQueue;
  contexts: ContextStore;
  pages: PageDirectory;
  logger: Logger;
}

const USER_ID = /^[A-Za-z0-9_-]{1,64}$/;
const CLIENT_ID = /^[A-Za-z0-9_.:-]{1,100}$/;
const MAX_TEXT = 2_000;

class BadRequest extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

export function adminRouter(d: AdminDeps): express.Router {
  const r = express.Router();
  r.use(requireAdmin(d.token));
  r.use(express.json({ limit: '64kb', strict: true }));

  const conversation = (req: Request): string => {
    const id = String(req.params.id);
    const { pageId, userId } = splitConversationId(id);
    if (!id.includes(':') || !pageId || !USER_ID.test(userId)) throw new BadRequest(400, 'conversation id must be <page id>:<user PSID>');
    if (!d.pages.serves(pageId)) throw new BadRequest(404, 'no such conversation');
    return conversationId(pageId, userId);
  };

  const enqueue = async (req: Request, res: Response, kind: AgentKind, fields: Partial<InboundEvent> = {}) => {
    const c = conversation(req);
    const body = (req.body ?? {}) as Record<string, unknown>;
    const agent = body.agent === undefined ? 'admin' : body.agent;
    if (typeof agent !== 'string' || agent.length === 0 || agent.length > 100) throw new BadRequest(400, '"agent" must be a name of 1 to 100 characters');
    // A client-chosen id makes a retried request harmless: the queue dedupes it like a webhook redelivery.
    const clientId = body.id;
    if (clientId !== undefined && (typeof clientId !== 'string' || !CLIENT_ID.test(clientId))) throw new BadRequest(400, '"id" must be 1 to 100 letters, digits, _ . : or -');
    const { pageId, userId } = splitConversationId(c);
    const now = Date.now();
    const event: InboundEvent = {
      id: `${kind}:${clientId ?? crypto.randomUUID()}`, kind, pageId, userId, timestamp: now, standby: false, agent, receivedAt: now, enqueuedAt: now, ...fields,
    };
    const result = await d.queue.enqueue(c, [{ event, queue: true }]);
    await d.queue.markReady([c]);
    const code = result.codes[0];
    d.logger.info({ conversation: c, kind, id: event.id, agent, outcome: code }, 'agent action queued');
    res.status(202).json({ id: event.id, conversation: c, status: code === EnqueueCode.Duplicate ? 'duplicate' : code === EnqueueCode.Overflow ? 'overflow' : 'queued' });
  };

  const route = (fn: (req: Request, res: Response) => Promise<void>) => (req: Request, res: Response) => {
    fn(req, res).catch((err) => {
      if (err instanceof BadRequest) return void res.status(err.status).json({ error: err.message });
      d.logger.error({ err, path: req.path }, 'admin request failed');
      res.status(503).json({ error: 'queue unavailable, retry later' });
    });
  };

  r.get('/conversations/:id/state', route(async (req, res) => {
    const s = await d.contexts.peek(conversation(req));
    res.json({ mode: s.mode, ...(s.agent ? { agent: s.agent } : {}), ...(s.humanSince ? { humanSince: new Date(s.humanSince).toISOString() } : {}), slots: s.slots });
  }));
  r.post('/conversations/:id/takeover', route((req, res) => enqueue(req, res, 'takeover')));
  r.post('/conversations/:id/release', route((req, res) => enqueue(req, res, 'release')));
  r.post('/conversations/:id/reply', route(async (req, res) => {
    const text = (req.body as { text?: unknown } | undefined)?.text;
    if (typeof text !== 'string' || text.trim() === '') throw new BadRequest(400, '"text" must be a non-empty string');
    if (text.length > MAX_TEXT) throw new BadRequest(400, `"text" must be at most ${MAX_TEXT} characters (Messenger's limit)`);
    await enqueue(req, res, 'agent', { text });
  }));
  return r;
}
