/**
 * Erasure from the admin app: `POST /admin/api/conversations/:id/forget` erases one user's
 * conversation on that account everywhere we hold it (Redis and the chatlog). Admins only,
 * within the accounts they are granted; logged with who asked; answered with the deletion
 * request's confirmation code and what was erased.
 */
import express, { type Request, type Response } from 'express';
import type { AccountDirectory } from '../channels/accounts';
import { parseConversationKey } from '../channels/conversation';
import type { Logger } from '../log';
import { ConversationBusyError } from '../queue/erase';
import { ForgetUnavailableError, type Forgetter } from '../privacy/forgetter';
import { principalOf } from './auth';
import { canSee } from './users';

export function privacyRouter(d: { forgetter?: Forgetter; accounts: AccountDirectory; logger: Logger }): express.Router {
  const r = express.Router();
  r.post('/conversations/:id/forget', (req: Request, res: Response) => {
    const p = principalOf(res);
    if (p.role !== 'admin') return void res.status(403).json({ error: 'erasing a user’s data needs the admin role' });
    const c = parseConversationKey(String(req.params.id));
    if (!c) return void res.status(400).json({ error: 'conversation id must be a conversation key: <channel>:<account id>:<user id> (Messenger: <page id>:<user PSID>)' });
    if (!d.accounts.serves(c.channel, c.account) || !canSee(p, c.channel, c.account)) return void res.status(404).json({ error: 'no such conversation' });
    if (!d.forgetter) return void res.status(503).json({ error: 'erasure is not available in this process (it needs Redis and the chatlog database: set DATABASE_URL)' });
    d.forgetter.forget(c, p.name).then(
      (done) => res.json({ confirmationCode: done.code, erased: done.erased }),
      (err) => {
        const busy = err instanceof ConversationBusyError;
        if (!busy && !(err instanceof ForgetUnavailableError)) d.logger.error({ err, conversation: req.params.id }, 'erasure failed');
        res.status(503).json({ error: busy ? `${err.message}: retry in a moment` : err instanceof ForgetUnavailableError ? err.message : 'erasure failed: retry later' });
      },
    );
  });
  return r;
}
