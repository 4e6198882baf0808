/**
 * Every admin route reads its query parameters as plain strings. Express's query parser
 * turns `?q=a&q=b` and `?q[]=a` into an array and `?q[x]=a` into an object, which the routes
 * would pass on to SQL or `new Date()` (a 500 before this check). One middleware in front
 * of every route refuses them with a 400 naming the parameter, so no route has to remember.
 */
import type { NextFunction, Request, Response } from 'express';

export function plainQueryOnly(req: Request, res: Response, next: NextFunction): void {
  for (const [name, value] of Object.entries(req.query)) {
    if (typeof value !== 'string') {
      res.status(400).json({ error: `query parameter ${JSON.stringify(name)} must be given once, as a plain value (not repeated, not name[] or name[key])` });
      return;
    }
  }
  next();
}
