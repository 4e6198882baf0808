/**
 * What every admin route may assume of its input, checked once in front of all of them:
 *
 * - Query parameters are plain strings. Express's query parser turns `?q=a&q=b` and `?q[]=a`
 *   into an array and `?q[x]=a` into an object, which the routes would pass on to SQL or
 *   `new Date()` (a 500). The few parameters documented as lists (the export's `page` and
 *   `intent`, repeatable like the CLI's flags) may be given several times, each a string.
 * - No text holds a NUL character: PostgreSQL cannot store one (a 500 for a note; an agent
 *   reply carrying one was queued, sent, and then held its chatlog batch back forever).
 *
 * Each refusal is a 400 naming the parameter or field.
 */
import type { NextFunction, Request, Response } from 'express';

const NUL = '\u0000';

/** `lists`: per route path, the parameters that may be repeated. */
export function plainQuery(lists: Readonly<Record<string, readonly string[]>> = {}) {
  return (req: Request, res: Response, next: NextFunction): void => {
    const repeatable = lists[req.path] ?? [];
    for (const [name, value] of Object.entries(req.query)) {
      const values = typeof value === 'string' ? [value] : repeatable.includes(name) && Array.isArray(value) && value.every((v) => typeof v === 'string') ? (value as string[]) : undefined;
      let problem: string | undefined;
      if (!values) problem = `must be ${repeatable.includes(name) ? 'plain values (repeat the name, not name[key])' : 'given once, as a plain value (not repeated, not name[] or name[key])'}`;
      else if (name.includes(NUL) || values.some((v) => v.includes(NUL))) problem = 'must not contain a NUL character (%00)';
      if (problem) return void res.status(400).json({ error: `query parameter ${JSON.stringify(name)} ${problem}` });
    }
    next();
  };
}

/** No admin body is nested deeper; a deeper one (64 KiB of `[[[…`) is refused, not walked. */
const MAX_DEPTH = 32;

/** Where the first string (or key) holding a NUL is in a parsed JSON body, or that it is too deep. */
function nulAt(v: unknown, path: string, depth: number): { at: string; deep?: true } | undefined {
  if (typeof v === 'string') return v.includes(NUL) ? { at: path } : undefined;
  if (!v || typeof v !== 'object') return undefined;
  if (depth > MAX_DEPTH) return { at: path, deep: true };
  for (const [k, x] of Object.entries(v)) {
    const at = Array.isArray(v) ? `${path}[${k}]` : path ? `${path}.${k}` : k;
    if (k.includes(NUL)) return { at };
    const found = nulAt(x, at, depth + 1);
    if (found) return found;
  }
  return undefined;
}

export function nulFreeBody(req: Request, res: Response, next: NextFunction): void {
  const found = nulAt(req.body, '', 0);
  if (found?.deep) return void res.status(400).json({ error: `the body is nested more than ${MAX_DEPTH} levels deep` });
  if (found) return void res.status(400).json({ error: `${JSON.stringify(found.at || 'body')} must not contain a NUL character (\\u0000)` });
  next();
}
