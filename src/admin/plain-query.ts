/**
 * Every admin route reads its query parameters as plain strings. Express's query parser
 * turns `?q=a&q=b` and `?q[]=a` into an array and `?q[x]=a` into an object, which the routes
 * would pass on to SQL or `new Date()` (a 500 before this check). One middleware in front
 * of every route refuses them with a 400 naming the parameter, so no route has to remember.
 * The few parameters documented as lists (the export's `page` and `intent`, repeatable like
 * the CLI's flags) may be given several times, each a plain string.
 */
import type { NextFunction, Request, Response } from 'express';

/** `lists`: per route path, the parameters that may be repeated. */
export function plainQuery(lists: Readonly<Record<string, readonly string[]>> = {}) {
  return (req: Request, res: Response, next: NextFunction): void => {
    const repeatable = lists[req.path] ?? [];
    for (const [name, value] of Object.entries(req.query)) {
      if (typeof value === 'string') continue;
      if (repeatable.includes(name) && Array.isArray(value) && value.every((v) => typeof v === 'string')) continue;
      const how = repeatable.includes(name) ? 'plain values (repeat the name, not name[key])' : 'given once, as a plain value (not repeated, not name[] or name[key])';
      res.status(400).json({ error: `query parameter ${JSON.stringify(name)} must be ${how}` });
      return;
    }
    next();
  };
}
