/**
 * The support KPIs are read at one moment (real PostgreSQL): a CSAT answer committed while
 * GET /kpis reads its figures is in all of them or in none — never in the CSAT count without
 * its agent's average (seen as `csatAverage: null` for the agent under load, the KPI page
 * read as the answer's batch committed).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { supportKpis } from '../../src/chatlog/inbox-queries';
import { migrate } from '../../src/chatlog/migrate';
import type { ChatlogRecord } from '../../src/chatlog/records';
import { postgresClient, type SqlClient, type SqlRunner } from '../../src/chatlog/sql';
import { writeBatch } from '../../src/chatlog/writer';
import { testPostgres } from '../helpers/env';

const T0 = Date.UTC(2026, 10, 1, 12, 0, 0);
const conv = { channel: 'messenger', account: '101', user: 'u-kpi' };
const range = { from: new Date(T0 - 3_600_000), to: new Date(T0 + 3_600_000) };

describe('support KPIs on postgres', () => {
  let url: string;
  let db: SqlClient;
  let writer: SqlClient;
  before(async () => {
    url = await testPostgres().database('kpis');
    db = postgresClient(url, () => undefined);
    writer = postgresClient(url, () => undefined);
    await migrate(db);
    const seed: ChatlogRecord[] = [
      { t: 'msg', ...conv, mid: 'm-in', direction: 'in', kind: 'text', text: 'a person please', platformTs: T0, receivedAt: T0 + 5 },
      { t: 'status', ...conv, id: 's1', status: 'waiting', from: 'bot', by: 'bot', cause: 'intent', at: T0 + 10 },
      { t: 'status', ...conv, id: 's2', status: 'assigned', from: 'waiting', agent: 'ann', by: 'ann', cause: 'claim', at: T0 + 20 },
      { t: 'status', ...conv, id: 's3', status: 'resolved', from: 'assigned', by: 'ann', cause: 'resolve', at: T0 + 30 },
    ];
    await writeBatch(writer, seed);
  });
  after(async () => {
    await db?.close();
    await writer?.close();
  });

  test("an answer committed while the KPIs are read is in the CSAT count and its agent's average together, or in neither", async () => {
    // The interleaving of a loaded machine, made certain: one CSAT figure is read, the answer
    // commits (another connection, as the chatlog writer does), then the other figure is read.
    // When both are in flight at once, the agent's figure goes first (the order seen in the failure).
    const issued = new Set<string>();
    let first = false;
    let answered = false;
    let release!: () => void;
    const committed = new Promise<void>((r) => (release = r));
    const gate = (inner: SqlRunner): SqlRunner => ({
      query: async <T>(sql: string, params?: unknown[]) => {
        const kind = /GROUP BY a\.(score|agent)/.exec(sql)?.[1];
        if (!kind) return inner.query<T>(sql, params);
        issued.add(kind);
        await new Promise((r) => setImmediate(r)); // statements sent together have all been sent now
        if (first || (kind === 'score' && issued.has('agent'))) {
          await committed;
          return inner.query<T>(sql, params);
        }
        first = true;
        const rows = await inner.query<T>(sql, params);
        await writeBatch(writer, [{ t: 'csat', ...conv, id: 'm-csat-5', score: 5, agent: 'ann', at: T0 + 40 }]);
        answered = true;
        release();
        return rows;
      },
    });
    const gated: SqlClient = { ...db, ...gate(db), transaction: (fn) => db.transaction((tx) => fn(gate(tx))) };

    const k = await supportKpis(gated, range);
    assert.ok(answered, 'the answer was committed during the read');
    const ann = k.agents.find((a) => a.agent === 'ann');
    assert.equal(ann?.csatCount ?? 0, k.csat.count, `one moment: ${JSON.stringify({ csat: k.csat, ann })}`);
    assert.equal(ann?.csatAverage ?? null, k.csat.average);

    const later = await supportKpis(db, range);
    assert.equal(later.csat.count, 1);
    assert.equal(later.agents.find((a) => a.agent === 'ann')?.csatAverage, 5);
    assert.equal(later.resolution.count, 1);
  });
});
