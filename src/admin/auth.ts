/**
 * Admin API authentication: every `/admin/api` route (but sign-in) needs
 * `Authorization: Bearer <token>` — the ADMIN_TOKEN (scripts) or a session token from
 * sign-in (the browser app). Tokens are compared in constant time.
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
    const fail = () => res.status(401).set('www-authenticate', 'Bearer realm="admin"').json({ error: 'authentication required: Authorization: Bearer <token> (ADMIN_TOKEN or a sign-in session)' });
    if (!token) return void fail();
    sessions.principal(token).then(
      (p) => {
        if (!p) return fail();
        res.locals.principal = p;
        next();
      },
      (err) => next(err),
    );
  };
}

/** Agents and admins may act on conversations; viewers only read. */
export function requireAgent(req: Request, res: Response, next: NextFunction): void {
  if (canAct(principalOf(res))) return next();
  res.status(403).json({ error: 'this needs the agent or admin role' });
}
