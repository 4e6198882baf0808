/**
 * Admin API authentication: every `/admin/api` route (but sign-in) needs
 * `Authorization: Bearer <token>` — the ADMIN_TOKEN (scripts) or a session token from
 * sign-in (the browser app). Tokens are compared in constant time; wrong ones count
 * against the client's address (limits.ts).
 */
import type { NextFunction, Request, Response } from 'express';
import type { Sessions } from './session';
import { canAct, type Principal } from './users';

export const bearer = (req: Request): string | undefined => /^Bearer\s+(\S+)\s*$/i.exec(req.header('authorization') ?? '')?.[1];

export function principalOf(res: Response): Principal {
  return res.locals.principal as Principal;
}

export function requireAuth(sessions: Sessions | undefined) {
  return (req: Request, res: Response, next: NextFunction): void => {
    if (!sessions) {
      res.status(503).json({ error: 'admin API disabled: set ADMIN_TOKEN or ADMIN_USERS_FILE' });
      return;
    }
    const token = bearer(req);
    const fail = (status: number, error: string, retryAfterS?: number) => {
      if (retryAfterS) res.set('retry-after', String(retryAfterS));
      if (status === 401) res.set('www-authenticate', 'Bearer realm="admin"');
      res.status(status).json({ error });
    };
    if (!token) return void fail(401, 'authentication required: Authorization: Bearer <token> (ADMIN_TOKEN or a sign-in session)');
    sessions.authenticate(token, req.ip ?? 'unknown').then(
      (a) => {
        if (!('principal' in a)) return fail(a.status, a.error, a.retryAfterS);
        res.locals.principal = a.principal;
        next();
      },
      (err) => next(err),
    );
  };
}

/** Agents and admins may act on conversations; viewers only read. */
export function requireAgent(_req: Request, res: Response, next: NextFunction): void {
  if (canAct(principalOf(res))) return next();
  res.status(403).json({ error: 'this needs the agent or admin role' });
}
