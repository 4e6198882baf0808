/** The environment reader behind `loadConfig` (src/config.ts): typed getters that collect problems. */
import fs from 'node:fs';
import path from 'node:path';

export type Env = Record<string, string | undefined>;

/** Collects problems instead of throwing at the first one. */
/** Reads settings, collecting every problem so that they can be reported at once. */
export class Reader {
  readonly problems: string[] = [];
  constructor(private readonly env: Env) {}

  str(name: string): string | undefined {
    const v = this.env[name];
    return v === undefined || v.trim() === '' ? undefined : v.trim();
  }

  int(name: string, def: number, min: number, max: number): number {
    const raw = this.str(name);
    if (raw === undefined) return def;
    const n = Number(raw);
    if (!/^-?\d+$/.test(raw) || n < min || n > max) {
      this.problems.push(`${name}=${JSON.stringify(raw)} must be an integer from ${min} to ${max}`);
      return def;
    }
    return n;
  }

  oneOf(name: string, allowed: readonly string[], def: string): string {
    const raw = this.str(name);
    if (raw === undefined) return def;
    if (!allowed.includes(raw)) {
      this.problems.push(`${name}=${JSON.stringify(raw)} must be one of: ${allowed.join(', ')}`);
      return def;
    }
    return raw;
  }

  float(name: string, def: number, min: number, max: number): number {
    const raw = this.str(name);
    if (raw === undefined) return def;
    const n = Number(raw);
    if (!/^\d*\.?\d+$/.test(raw) || n < min || n > max) {
      this.problems.push(`${name}=${JSON.stringify(raw)} must be a number from ${min} to ${max}`);
      return def;
    }
    return n;
  }

  /** A setting naming a file: read and parsed at start; any problem is reported with the path. */
  file<T>(name: string, cwd: string, parse: (text: string, where: string) => { problems: string[]; value?: T }): T | undefined {
    const raw = this.str(name);
    if (raw === undefined) return undefined;
    const file = path.resolve(cwd, raw);
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (err) {
      this.problems.push(`${name} ${file} cannot be read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
      return undefined;
    }
    const parsed = parse(text, `${name} ${file}`);
    this.problems.push(...parsed.problems);
    return parsed.value;
  }

  bytes(name: string, def: number): number {
    const raw = this.str(name);
    if (raw === undefined) return def;
    const m = /^(\d+)\s*(b|kb|mb)?$/i.exec(raw);
    const mult: Record<string, number> = { b: 1, kb: 1024, mb: 1024 * 1024 };
    const n = m ? Number(m[1]) * mult[(m[2] ?? 'b').toLowerCase()]! : NaN;
    if (!Number.isFinite(n) || n < 1024 || n > 100 * 1024 * 1024) {
      this.problems.push(`${name}=${JSON.stringify(raw)} must be a size from 1kb to 100mb (e.g. 1mb, 512kb)`);
      return def;
    }
    return n;
  }
}

/**
 * The top-level `key` of a JSON settings file (PAGES_FILE, ADMIN_USERS_FILE, ACTIONS_FILE),
 * or the problem that stops it being read.
 */
export function jsonSection(text: string, where: string, key: string): { value: unknown } | { problem: string } {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    return { problem: `${where} is not valid JSON: ${(err as Error).message}` };
  }
  return { value: (doc as Record<string, unknown> | null)?.[key] };
}
