/**
 * Agent tools (`/admin/api`): canned replies per account (admins manage them; agents pick one,
 * its `{{first_name}}`-style fields filled for the conversation), files attached to a reply
 * (uploaded here, stored under the conversation, served to the platform at an unguessable URL
 * by `filesRouter`), and the support KPIs.
 */
import express from 'express';
import type { AccountDirectory } from '../channels/accounts';
import { addCanned, cannedReplies, deleteCanned, supportKpis } from '../chatlog/inbox-queries';
import type { SqlClient } from '../chatlog/sql';
import { FILE_TYPES, TOKEN, type FileStore } from '../inbox/files';
import type { ProfileService } from '../inbox/profiles';
import type { Logger } from '../log';
import { parseConversationKey } from '../channels/conversation';
import { principalOf, requireAgent } from './auth';
import { ACCOUNT_KEY, HttpError, route, scopedConversation } from './http';
import { canSee } from './users';

export interface ToolsApiDeps {
  accounts: AccountDirectory;
  db?: SqlClient;
  files: FileStore;
  profiles?: Pick<ProfileService, 'get'>;
  /** PUBLIC_URL (or, in dev mode, this server's own address): where platforms fetch attachments. */
  publicUrl: () => string | undefined;
  maxBytes: number;
  logger: Logger;
}

/** `{{first_name}}`, `{{name}}`, `{{user_id}}` filled; an unknown field is left out. */
export function fillFields(text: string, v: Record<string, string | undefined>): string {
  return text.replace(/\{\{\s*([a-z_]+)\s*\}\}/g, (_, k: string) => v[k] ?? '');
}

export function toolsRouter(deps?: ToolsApiDeps): express.Router {
  const r = express.Router();
  // Built without its dependencies too (the route list of the fuzzing test): each handler asks for them.
  const D = (): ToolsApiDeps => {
    if (!deps) throw new HttpError(503, 'the agent inbox is not available in this process');
    return deps;
  };
  const db = (): SqlClient => {
    const d = D();
    if (!d.db) throw new HttpError(503, 'the chatlog is not available to this process (set DATABASE_URL)');
    return d.db;
  };
  const admin = (res: express.Response) => {
    if (principalOf(res).role !== 'admin') throw new HttpError(403, 'managing canned replies needs the admin role');
  };

  r.get(
    '/canned',
    route(async (req, res) => {
      D(); // 503 without the inbox
      const account = (req.query as Record<string, string | undefined>).account || undefined;
      if (account !== undefined && !ACCOUNT_KEY.test(account)) throw new HttpError(400, 'account must be <channel>:<account id>, e.g. messenger:1234');
      res.json({ items: await cannedReplies(db(), principalOf(res).accounts, account) });
    }),
  );

  r.post(
    '/canned',
    route(async (req, res) => {
      const d = D();
      admin(res);
      const b = (req.body ?? {}) as Record<string, unknown>;
      const account = b.account;
      if (typeof account !== 'string' || !ACCOUNT_KEY.test(account)) throw new HttpError(400, '"account" must be <channel>:<account id>, e.g. messenger:1234');
      const [channel, id] = [account.slice(0, account.indexOf(':')), account.slice(account.indexOf(':') + 1)];
      if (!d.accounts.serves(channel, id) || !canSee(principalOf(res), channel, id)) throw new HttpError(404, 'no such account');
      if (typeof b.title !== 'string' || !b.title.trim() || b.title.length > 80) throw new HttpError(400, '"title" must be a non-empty string of at most 80 characters');
      if (typeof b.text !== 'string' || !b.text.trim() || b.text.length > 2_000) throw new HttpError(400, '"text" must be a non-empty string of at most 2000 characters');
      const added = await addCanned(db(), channel, id, b.title.trim(), b.text, principalOf(res).name);
      if (!added) throw new HttpError(409, `the account already has a canned reply titled ${JSON.stringify(b.title.trim())}`);
      res.status(201).json(added);
    }),
  );

  r.delete(
    '/canned/:cid',
    route(async (req, res) => {
      D(); // 503 without the inbox
      admin(res);
      if (!(await deleteCanned(db(), String(req.params.cid), principalOf(res).accounts))) throw new HttpError(404, 'no such canned reply');
      res.status(204).end();
    }),
  );

  r.get(
    '/conversations/:id/canned',
    requireAgent,
    route(async (req, res) => {
      const d = D();
      const c = scopedConversation(req, d.accounts);
      const profile = await d.profiles?.get(c.key).catch(() => undefined);
      const fields = { first_name: profile?.firstName ?? profile?.name?.split(' ')[0], name: profile?.name, user_id: c.user };
      const items = await cannedReplies(db(), principalOf(res).accounts, `${c.channel}:${c.account}`);
      res.json({ items: items.map((x) => ({ id: x.id, title: x.title, text: fillFields(x.text, fields) })) });
    }),
  );

  let raw: express.RequestHandler | undefined;
  const rawBody: express.RequestHandler = (req, res, next) => (deps ? (raw ??= express.raw({ type: () => true, limit: deps.maxBytes }))(req, res, next) : next());
  r.post(
    '/conversations/:id/attachments',
    requireAgent,
    rawBody,
    route(async (req, res) => {
      const d = D();
      const c = scopedConversation(req, d.accounts);
      const type = String(req.headers['content-type'] ?? '')
        .split(';')[0]!
        .trim()
        .toLowerCase();
      const kind = FILE_TYPES[type];
      if (!kind) throw new HttpError(415, `content-type must be one of ${Object.keys(FILE_TYPES).join(', ')}`);
      const data = req.body as unknown;
      if (!Buffer.isBuffer(data) || data.length === 0) throw new HttpError(400, 'the body must be the file');
      const rawName = (req.query as Record<string, string | undefined>).name ?? 'file';
      const name = rawName.replace(/[^\w.\- ]+/g, '_').slice(0, 100) || 'file';
      const base = d.publicUrl();
      if (!base) throw new HttpError(503, 'attachments need PUBLIC_URL (the address platforms fetch files from)');
      const token = await d.files.save(c.key, { type, name, data });
      res.status(201).json({ url: `${base}/files/${encodeURIComponent(c.key)}/${token}`, type: kind, name, bytes: data.length });
    }),
  );

  r.get(
    '/kpis',
    route(async (req, res) => {
      D(); // 503 without the inbox
      const q = req.query as Record<string, string | undefined>;
      const to = q.to ? new Date(q.to) : new Date();
      const from = q.from ? new Date(q.from) : new Date(to.getTime() - 7 * 24 * 3_600_000);
      if (Number.isNaN(from.getTime()) || Number.isNaN(to.getTime())) throw new HttpError(400, 'from and to must be dates (ISO 8601)');
      const account = q.account || undefined;
      if (account !== undefined && !ACCOUNT_KEY.test(account)) throw new HttpError(400, 'account must be <channel>:<account id>, e.g. messenger:1234');
      const p = principalOf(res);
      const scope = account ? (canSee(p, account.slice(0, account.indexOf(':')), account.slice(account.indexOf(':') + 1)) ? [account] : []) : p.accounts;
      res.json(await supportKpis(db(), { from, to, ...(scope ? { scope } : {}) }));
    }),
  );
  return r;
}

/** `GET /files/<conversation>/<token>`: what platforms fetch when an agent's reply carries a file. No sign-in: the token is the key. */
export function filesRouter(files: FileStore): express.Router {
  const r = express.Router();
  r.get('/:conversation/:token', (req, res) => {
    const key = String(req.params.conversation);
    const token = String(req.params.token);
    if (!parseConversationKey(key) || !TOKEN.test(token)) return void res.status(404).json({ error: 'not found' });
    files.get(key, token).then(
      (f) => {
        if (!f) return void res.status(404).json({ error: 'not found' });
        res.set({ 'content-type': f.type, 'content-disposition': `inline; filename="${f.name}"`, 'x-content-type-options': 'nosniff', 'cache-control': 'private, max-age=3600', 'content-security-policy': "default-src 'none'" });
        res.send(f.data);
      },
      () => res.status(503).json({ error: 'unavailable, retry later' }),
    );
  });
  return r;
}
