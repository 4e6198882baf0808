/**
 * The Graph fake's Handover Protocol and User Profile API (Messenger Platform docs: "Handover
 * Protocol" — pass_thread_control, take_thread_control, the messaging_handovers webhook events —
 * and "User Profile API"). It models thread ownership per page and user: our app (the primary
 * receiver) owns every thread until it passes one; a message our app sends to a thread another
 * app owns is refused with error 10, as are passing a thread it does not own and taking one it
 * owns. The Page Inbox's staff are simulated: their replies come back as echoes with the Page
 * Inbox's app id and no metadata; marking a conversation done passes the thread back to us.
 */
import crypto from 'node:crypto';
import express from 'express';

/** Facebook's Page Inbox, as the Handover Protocol names it. */
export const PAGE_INBOX_APP_ID = '263902037430900';

export interface ThreadCall {
  op: 'pass_thread_control' | 'take_thread_control';
  pageId: string;
  recipientId: string;
  targetAppId?: string;
  metadata?: string;
  at: number;
  ok: boolean;
}

export type GraphReply = (status: number, json: unknown) => void;
type ErrorReply = (status: number, code: number, message: string) => void;

export class Threads {
  /** `page:user` -> the app that owns the thread (absent: ours). */
  private readonly owners = new Map<string, string>();
  readonly calls: ThreadCall[] = [];
  /** Profiles the User Profile API answers (absent: a made-up name from the id). */
  readonly profiles = new Map<string, { first_name?: string; last_name?: string; profile_pic?: string }>();

  constructor(readonly ourAppId: string) {}

  owner(pageId: string, userId: string): string {
    return this.owners.get(`${pageId}:${userId}`) ?? this.ourAppId;
  }

  setOwner(pageId: string, userId: string, app: string): void {
    if (app === this.ourAppId) this.owners.delete(`${pageId}:${userId}`);
    else this.owners.set(`${pageId}:${userId}`, app);
  }

  /** Refusal of a message send to a thread we do not own, or undefined. */
  refuseSend(pageId: string, userId: string): string | undefined {
    const owner = this.owner(pageId, userId);
    return owner === this.ourAppId ? undefined : `(#10) This message is sent by an app that does not have thread control: app ${owner} owns this thread`;
  }

  /** POST /me/pass_thread_control and /me/take_thread_control (token already resolved to a page). */
  handle(op: ThreadCall['op'], pageId: string, body: Record<string, unknown>, reply: GraphReply, error: ErrorReply): void {
    const recipient = (body.recipient as { id?: unknown } | undefined)?.id;
    if (typeof recipient !== 'string') return error(400, 100, '(#100) The parameter recipient is required');
    const target = body.target_app_id === undefined ? undefined : String(body.target_app_id);
    if (op === 'pass_thread_control' && !target) return error(400, 100, '(#100) The parameter target_app_id is required');
    const metadata = typeof body.metadata === 'string' ? body.metadata : undefined;
    const owner = this.owner(pageId, recipient);
    const call: ThreadCall = { op, pageId, recipientId: recipient, at: Date.now(), ok: false, ...(target ? { targetAppId: target } : {}), ...(metadata ? { metadata } : {}) };
    this.calls.push(call);
    if (op === 'pass_thread_control' && owner !== this.ourAppId) return error(400, 10, '(#10) Cannot pass thread control: this app is not the thread owner');
    if (op === 'take_thread_control' && owner === this.ourAppId) return error(400, 10, '(#10) Cannot take thread control: this app already owns the thread');
    call.ok = true;
    this.setOwner(pageId, recipient, op === 'pass_thread_control' ? target! : this.ourAppId);
    reply(200, { success: true });
  }

  /** GET /{PSID}?fields=…: the fields asked for, of a user who wrote to the page. */
  profile(id: string, fields: string): Record<string, unknown> {
    const p = this.profiles.get(id) ?? { first_name: 'Sam', last_name: `User${id.slice(-4)}`, profile_pic: `https://platform-lookaside.fbsbx.com/platform/profilepic/?psid=${encodeURIComponent(id)}` };
    const wanted = new Set(fields.split(',').map((f) => f.trim()));
    return { id, ...Object.fromEntries(Object.entries(p).filter(([k]) => wanted.has(k))) };
  }

  router(tokenPage: (token: unknown) => string | undefined, error: (res: express.Response, status: number, code: number, message: string) => void): express.Router {
    const r = express.Router();
    r.get('/:version/:id', (req, res, next) => {
      if (req.params.id === 'calls' || req.params.id === 'me') return next();
      if (!tokenPage(req.query.access_token)) return error(res, 400, 190, 'Invalid OAuth access token - Cannot parse access token');
      res.json(this.profile(String(req.params.id), typeof req.query.fields === 'string' ? req.query.fields : 'first_name,last_name'));
    });
    return r;
  }

  /** Webhook bodies Facebook sends our app about a thread. */
  static webhook(pageId: string, userId: string, event: Record<string, unknown>): unknown {
    const now = Date.now();
    return { object: 'page', entry: [{ id: pageId, time: now, messaging: [{ sender: { id: userId }, recipient: { id: pageId }, timestamp: now, ...event }] }] };
  }

  static staffEcho(pageId: string, userId: string, text: string): unknown {
    const now = Date.now();
    const mid = `m_inbox_${crypto.randomBytes(9).toString('base64url')}`;
    return { object: 'page', entry: [{ id: pageId, time: now, messaging: [{ sender: { id: pageId }, recipient: { id: userId }, timestamp: now, message: { is_echo: true, app_id: Number(PAGE_INBOX_APP_ID), mid, text } }] }] };
  }
}
