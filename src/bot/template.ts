/** `{{name}}` / `{{result.status}}` placeholders in answers and action URLs. */

export type Vars = Record<string, unknown>;

const PLACEHOLDER = /\{\{\s*([A-Za-z0-9_.]+)\s*\}\}/g;

function lookup(vars: Vars, dotted: string): unknown {
  let v: unknown = vars;
  for (const part of dotted.split('.')) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string, unknown>)[part];
  }
  return v;
}

/** The placeholders a template uses. */
export function placeholders(template: string): string[] {
  return [...template.matchAll(PLACEHOLDER)].map((m) => m[1]!);
}

/** Fills placeholders; a missing value renders as `fallback` (empty by default). */
export function render(template: string, vars: Vars, opts: { encode?: boolean; fallback?: string } = {}): string {
  return template.replace(PLACEHOLDER, (_, name: string) => {
    const v = lookup(vars, name);
    const s = v === undefined || v === null ? (opts.fallback ?? '') : typeof v === 'object' ? JSON.stringify(v) : String(v);
    return opts.encode ? encodeURIComponent(s) : s;
  });
}

/** Names a template needs that `vars` lacks. */
export function missing(template: string, vars: Vars): string[] {
  return placeholders(template).filter((n) => {
    const v = lookup(vars, n);
    return v === undefined || v === null || v === '';
  });
}
