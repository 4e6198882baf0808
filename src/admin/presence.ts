/**
 * The user's presence in the admin API, for channels that have it (web chat): whether the user
 * is online and typing (`GET /conversations/:id/presence`). Changes also stream live, as
 * `event: presence` on `/live` (see app.ts). Scoped like every conversation route: another
 * account's conversation is a 404. (An agent's typing reaches the user through the inbox's
 * `POST /conversations/:id/typing`, which uses the channel's typing sender action.)
 */
import express, { type Request, type Response } from 'express';
import type { AccountDirectory } from '../channels/accounts';
import { parseConversationKey, type ConversationRef } from '../channels/conversation';
import type { PresenceSource } from '../channels/presence';
import type { Logger } from '../log';
import { principalOf } from './auth';
import { canSee } from './users';

export interface PresenceDeps {
  presence?: PresenceSource;
  accounts: AccountDirectory;
  logger: Logger;
}

export function presenceRouter(d: PresenceDeps): express.Router {
  const r = express.Router();
  /** The conversation of the URL if the caller may see it and its channel has presence; otherwise the answer is sent. */
  const conversation = (req: Request, res: Response): ConversationRef | undefined => {
    const c = parseConversationKey(String(req.params.id));
    if (!c) return void res.status(400).json({ error: 'conversation id must be a conversation key: <channel>:<account id>:<user id>' });
    if (!d.accounts.serves(c.channel, c.account) || !canSee(principalOf(res), c.channel, c.account)) return void res.status(404).json({ error: 'no such conversation' });
    if (!d.presence?.channels.has(c.channel)) return void res.status(404).json({ error: `the ${c.channel} channel has no presence` });
    return c;
  };
  const unavailable = (res: Response, err: unknown) => {
    d.logger.warn({ err }, 'presence not read: redis unavailable');
    res.status(503).json({ error: 'presence unavailable, retry later' });
  };
  r.get('/conversations/:id/presence', (req, res) => {
    const c = conversation(req, res);
    if (c)
      d.presence!.get(c).then(
        (p) => res.json(p),
        (err) => unavailable(res, err),
      );
  });
  return r;
}
