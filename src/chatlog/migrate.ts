/**
 * Versioned SQL migrations (`migrations/NNN_name.sql`), applied at start in order, each in
 * its own transaction. A session advisory lock makes concurrent starts of several replicas
 * safe: one applies, the others wait and then find nothing left to do.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { SqlClient } from './sql';

const LOCK_ID = 727_001; // any constant shared by every replica
const DIR = path.join(__dirname, 'migrations');

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export function loadMigrations(dir = DIR): Migration[] {
  return fs
    .readdirSync(dir)
    .filter((f) => /^\d{3}_[a-z0-9_]+\.sql$/.test(f))
    .sort()
    .map((f) => ({ version: Number(f.slice(0, 3)), name: f.slice(4, -4), sql: fs.readFileSync(path.join(dir, f), 'utf8') }));
}

/** Returns the versions it applied. */
export async function migrate(db: SqlClient, migrations = loadMigrations()): Promise<number[]> {
  return db.transaction(async (tx) => {
    // Transaction-scoped: released at commit, even if this process dies mid-way.
    await tx.query('SELECT pg_advisory_xact_lock($1)', [LOCK_ID]);
    await tx.query('CREATE TABLE IF NOT EXISTS schema_migrations (version int PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())');
    const done = new Set((await tx.query<{ version: number }>('SELECT version FROM schema_migrations')).map((r) => r.version));
    const applied: number[] = [];
    for (const m of migrations) {
      if (done.has(m.version)) continue;
      for (const statement of splitStatements(m.sql)) await tx.query(statement);
      await tx.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [m.version, m.name]);
      applied.push(m.version);
    }
    return applied;
  });
}

/** Splits a migration file on semicolons at line ends (our files keep one statement per `;\n`). */
export function splitStatements(sql: string): string[] {
  return sql
    .replace(/^\s*--.*$/gm, '')
    .split(/;\s*(?:\n|$)/)
    .map((s) => s.trim())
    .filter(Boolean);
}
