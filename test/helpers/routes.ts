/** The routes an express router declares, read from its stack (express 4's internals), for tests that must cover every one. */
import assert from 'node:assert/strict';
import type express from 'express';

interface Layer {
  route?: { path: string; methods: Record<string, boolean> };
  name: string;
  regexp: RegExp;
  handle: { stack: Layer[] };
}

/** "METHOD /path" of every route, nested routers included: a router mounted at `/models` prefixes its own (`GET /models/`); one mounted at the root adds nothing. */
export function routesOf(router: express.Router): string[] {
  const walk = (stack: Layer[], prefix: string): string[] =>
    stack.flatMap((l) => {
      if (l.route) return Object.keys(l.route.methods).map((m) => `${m.toUpperCase()} ${prefix}${l.route!.path}`);
      if (l.name !== 'router') return [];
      const mount = /^\^(.*?)\\\/\?\(\?=\\\/\|\$\)$/.exec(l.regexp.source)?.[1]?.replace(/\\\//g, '/');
      assert.ok(mount !== undefined, `mount path of ${l.regexp.source}`);
      return walk(l.handle.stack, prefix + mount);
    });
  return walk((router as unknown as { stack: Layer[] }).stack, '');
}
