/**
 * What every admin router shares: the error that becomes a clear 4xx/5xx answer, the wrapper
 * that turns a handler's rejection into it, and the conversation a URL names — if the caller
 * may see it (a conversation of an account they are not granted is a 404, never a 403).
 */
import type { NextFunction, Request, Response } from 'express';
import type { AccountDirectory } from '../channels/accounts';
import { conversationKey, parseConversationKey, type ConversationRef } from '../channels/conversation';
import { BadCursorError } from '../chatlog/queries';
import { principalOf } from './auth';
import { canSee } from './users';

export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly extra?: Record<string, unknown>,
  ) {
    super(message);
  }
}

export type Handler = (req: Request, res: Response) => Promise<unknown> | unknown;

export const route = (fn: Handler) => (req: Request, res: Response, next: NextFunction) => {
  Promise.resolve()
    .then(() => fn(req, res))
    .catch((err) => {
      if (err instanceof HttpError) return void res.status(err.status).json({ error: err.message, ...err.extra });
      if (err instanceof BadCursorError) return void res.status(400).json({ error: err.message });
      next(err);
    });
};

/** The conversation `req.params.id` names, if the caller may see it (404 otherwise). */
export function scopedConversation(req: Request, accounts: AccountDirectory): ConversationRef & { key: string } {
  const c = parseConversationKey(String(req.params.id));
  if (!c) throw new HttpError(400, 'conversation id must be a conversation key: <channel>:<account id>:<user id> (Messenger: <page id>:<user PSID>)');
  if (!accounts.serves(c.channel, c.account) || !canSee(principalOf(req.res!), c.channel, c.account)) throw new HttpError(404, 'no such conversation');
  return { ...c, key: conversationKey(c) };
}

export const ACCOUNT_KEY = /^[a-z][a-z0-9_-]{0,31}:[A-Za-z0-9_.@+=-]{1,128}$/;
