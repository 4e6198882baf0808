/**
 * The SQL seam of the chatlog: the same SQL and migrations run on PostgreSQL (pg) and on
 * embedded PGlite (dev mode). Only these adapters know which one is behind.
 */
import fs from 'node:fs';
import { Pool, type PoolClient } from 'pg';

export interface SqlRunner {
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>;
}

export interface SqlClient extends SqlRunner {
  /** Several statements, no parameters (migrations). */
  exec(sql: string): Promise<void>;
  transaction<T>(fn: (tx: SqlRunner) => Promise<T>): Promise<T>;
  close(): Promise<void>;
  readonly kind: 'postgres' | 'pglite';
}

/**
 * JSON for PostgreSQL: a NUL character is valid JSON (`\u0000`) but PostgreSQL's text and
 * jsonb refuse it, and one message carrying it would fail its batch for ever. It becomes
 * U+FFFD (only a real escape: an even run of backslashes before `u0000` is literal text).
 */
export const pgJson = (v: unknown): string => JSON.stringify(v).replace(/(?<!\\)((?:\\\\)*)\\u0000/g, '$1\\ufffd');

export function postgresClient(url: string, onErrorLog: (err: Error) => void): SqlClient {
  const pool = new Pool({ connectionString: url, max: 4, connectionTimeoutMillis: 5_000, idleTimeoutMillis: 30_000 });
  pool.on('error', onErrorLog); // an idle client lost its connection (server restart): the pool replaces it
  const runner = (c: Pool | PoolClient): SqlRunner => ({
    query: async <T>(sql: string, params?: unknown[]) => (await c.query(sql, params as unknown[])).rows as T[],
  });
  return {
    kind: 'postgres',
    ...runner(pool),
    exec: async (sql) => {
      await pool.query(sql);
    },
    transaction: async (fn) => {
      const client = await pool.connect();
      // A checked-out client reports a dropped connection on itself, not on the pool; with
      // no listener that 'error' event would crash the process when PostgreSQL goes away.
      let lost: Error | undefined;
      const onError = (err: Error) => {
        lost = err;
        onErrorLog(err);
      };
      client.on('error', onError);
      try {
        await client.query('BEGIN');
        const result = await fn(runner(client));
        await client.query('COMMIT');
        client.off('error', onError);
        client.release(lost);
        return result;
      } catch (err) {
        await client.query('ROLLBACK').catch(() => undefined);
        client.off('error', onError);
        // Destroy rather than reuse: after a server restart this connection is dead.
        client.release(err as Error);
        throw err;
      }
    },
    close: () => pool.end(),
  };
}

export async function pgliteClient(dir: string): Promise<SqlClient> {
  fs.mkdirSync(dir, { recursive: true });
  // A dev dependency, absent from the production image: there DATABASE_URL is required.
  const { PGlite } = await import('@electric-sql/pglite').catch((err: NodeJS.ErrnoException) => {
    throw err.code === 'MODULE_NOT_FOUND' || err.code === 'ERR_MODULE_NOT_FOUND' ? new Error('the embedded PGlite chatlog is a development dependency (npm ci installs it): set DATABASE_URL to a PostgreSQL database') : err;
  });
  const db = await PGlite.create(dir);
  type Q = { query: (sql: string, params?: unknown[]) => Promise<{ rows: unknown[] }> };
  const runner = (c: Q): SqlRunner => ({ query: async <T>(sql: string, params?: unknown[]) => (await c.query(sql, params)).rows as T[] });
  return {
    kind: 'pglite',
    ...runner(db),
    exec: async (sql) => {
      await db.exec(sql);
    },
    transaction: (fn) => db.transaction((tx) => fn(runner(tx))),
    close: () => db.close(),
  };
}
