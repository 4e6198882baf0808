/**
 * Admin API authentication: `Authorization: Bearer <ADMIN_TOKEN>`, compared in constant
 * time. Without a token (production with ADMIN_TOKEN unset) the admin API is off.
 */
import crypto from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';

export function safeEqual(a: string, b: string): boolean {
  const ha = crypto.createHash('sha256').update(a).digest();
  const hb = crypto.createHash('sha256').update(b).digest();
  return crypto.timingSafeEqual(ha, hb);
}

export function requireAdmin(token: string | undefined) {
  return (req: Request, res: Response, next: NextFunction): void => {
    if (!token) {
      res.status(503).json({ error: 'admin API disabled: set ADMIN_TOKEN' });
      return;
    }
    const m = /^Bearer\s+(\S+)\s*$/i.exec(req.header('authorization') ?? '');
    if (!m || !safeEqual(m[1]!, token)) {
      res.status(401).set('www-authenticate', 'Bearer realm="admin"').json({ error: 'authentication required: Authorization: Bearer <ADMIN_TOKEN>' });
      return;
    }
    next();
  };
}
