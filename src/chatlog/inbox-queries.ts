/**
 * Read queries of the agent inbox over the chatlog: a conversation's status history, canned
 * replies, and the support KPIs (containment, handoff rate, time to first agent reply,
 * resolution time, per agent, CSAT). Every query takes the caller's account scope like
 * queries.ts does, applied in SQL.
 */
import { inScope, isRowId } from './queries';
import type { SqlClient, SqlRunner } from './sql';

export interface StatusEvent {
  from: string | null;
  to: string;
  agent: string | null;
  by: string;
  cause: string;
  at: Date;
}

export async function statusHistory(db: SqlRunner, conversationId: string, limit = 200): Promise<StatusEvent[]> {
  const rows = await db.query<Record<string, unknown>>('SELECT from_status, to_status, agent, by, cause, at FROM status_events WHERE conversation_id = $1 ORDER BY at DESC, id DESC LIMIT $2', [conversationId, limit]);
  return rows.map((r) => ({ from: (r.from_status as string | null) ?? null, to: r.to_status as string, agent: (r.agent as string | null) ?? null, by: r.by as string, cause: r.cause as string, at: new Date(r.at as string) }));
}

export interface CannedReply {
  id: string;
  account: string;
  title: string;
  text: string;
  createdBy: string;
}

const cannedOf = (r: Record<string, unknown>): CannedReply => ({ id: String(r.id), account: `${r.channel}:${r.account_id}`, title: r.title as string, text: r.text as string, createdBy: r.created_by as string });

export async function cannedReplies(db: SqlRunner, scope: readonly string[] | undefined, account?: string): Promise<CannedReply[]> {
  const rows = await db.query<Record<string, unknown>>(
    `SELECT id, channel, account_id, title, text, created_by FROM canned_replies c WHERE ${inScope('c', 1)} AND ($2::text IS NULL OR (c.channel || ':' || c.account_id) = $2) ORDER BY channel, account_id, title LIMIT 500`,
    [scope ? [...scope] : null, account ?? null],
  );
  return rows.map(cannedOf);
}

/** Adds a canned reply; null when the account already has one with that title. */
export async function addCanned(db: SqlRunner, channel: string, account: string, title: string, text: string, by: string): Promise<CannedReply | null> {
  const rows = await db.query<Record<string, unknown>>(
    'INSERT INTO canned_replies (channel, account_id, title, text, created_by) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (channel, account_id, title) DO NOTHING RETURNING id, channel, account_id, title, text, created_by',
    [channel, account, title, text, by],
  );
  return rows[0] ? cannedOf(rows[0]) : null;
}

export async function deleteCanned(db: SqlRunner, id: string, scope: readonly string[] | undefined): Promise<boolean> {
  if (!isRowId(id)) return false;
  return (await db.query(`DELETE FROM canned_replies c WHERE id = $1 AND ${inScope('c', 2)} RETURNING id`, [id, scope ? [...scope] : null])).length === 1;
}

export interface SupportKpis {
  conversations: number;
  handedOver: number;
  /** Share of conversations the bot handled alone (no person asked for or involved). */
  containment: number | null;
  handoffRate: number | null;
  firstAgentReply: { count: number; avgMs: number | null; p50Ms: number | null };
  resolution: { count: number; avgMs: number | null; p50Ms: number | null };
  csat: { count: number; average: number | null; distribution: Record<string, number> };
  agents: { agent: string; resolved: number; firstReplies: number; firstReplyAvgMs: number | null; resolutionAvgMs: number | null; csatCount: number; csatAverage: number | null }[];
}

type Rows = Record<string, unknown>[];

const MSG_AT = 'coalesce(m.received_at, m.replied_at, m.platform_ts)';
const HUMAN = "('waiting', 'assigned')";

/**
 * The KPIs of one moment: every figure read in one read-only snapshot (one transaction,
 * REPEATABLE READ). Read as separate statements on the pool's connections, a row committed
 * meanwhile (a CSAT answer, a resolve) would be counted by one figure and not by another:
 * the answer in the CSAT count, but not yet in its agent's average.
 */
export async function supportKpis(db: SqlClient, range: { from: Date; to: Date; scope?: readonly string[] }): Promise<SupportKpis> {
  return db.transaction(async (tx) => {
    await tx.query('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY');
    return kpisIn(tx, range);
  });
}

async function kpisIn(db: SqlRunner, range: { from: Date; to: Date; scope?: readonly string[] }): Promise<SupportKpis> {
  const p = [range.from, range.to, range.scope ? [...range.scope] : null];
  const scoped = (alias: string) => `${inScope(alias, 3)}`;
  // One after the other: the statements of one transaction share its connection.
  const queries: (() => Promise<Record<string, unknown>[]>)[] = [
    () =>
      db.query<Record<string, unknown>>(
        `SELECT count(*) AS n, count(*) FILTER (WHERE EXISTS (SELECT 1 FROM status_events e WHERE e.conversation_id = c.id AND e.to_status IN ${HUMAN} AND e.at >= $1 AND e.at < $2)) AS handed
       FROM conversations c WHERE ${scoped('c')} AND EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = c.id AND m.direction = 'in' AND ${MSG_AT} >= $1 AND ${MSG_AT} < $2)`,
        p,
      ),
    // Each wait (a change into waiting) and the first agent message after it, attributed to the agent holding the conversation then.
    () =>
      db.query<Record<string, unknown>>(
        `SELECT f.agent, extract(epoch from (f.reply_at - w.at)) * 1000 AS ms
       FROM status_events w JOIN conversations c ON c.id = w.conversation_id
       CROSS JOIN LATERAL (
         SELECT ${MSG_AT} AS reply_at, (SELECT a.agent FROM status_events a WHERE a.conversation_id = w.conversation_id AND a.at <= ${MSG_AT} AND a.agent IS NOT NULL ORDER BY a.at DESC, a.id DESC LIMIT 1) AS agent
         FROM messages m WHERE m.conversation_id = w.conversation_id AND m.author = 'agent' AND ${MSG_AT} >= w.at ORDER BY ${MSG_AT} LIMIT 1) f
       WHERE w.to_status = 'waiting' AND coalesce(w.from_status, 'bot') NOT IN ${HUMAN} AND w.at >= $1 AND w.at < $2 AND ${scoped('c')}`,
        p,
      ),
    // Each resolve and the start of the episode it ends (the last change from the bot into a person's hands before it).
    () =>
      db.query<Record<string, unknown>>(
        `SELECT r.by AS agent, extract(epoch from (r.at - s.at)) * 1000 AS ms
       FROM status_events r JOIN conversations c ON c.id = r.conversation_id
       CROSS JOIN LATERAL (SELECT e.at FROM status_events e WHERE e.conversation_id = r.conversation_id AND e.at <= r.at AND e.to_status IN ${HUMAN}
         AND coalesce(e.from_status, 'bot') IN ('bot', 'resolved') ORDER BY e.at DESC, e.id DESC LIMIT 1) s
       WHERE r.to_status = 'resolved' AND r.at >= $1 AND r.at < $2 AND ${scoped('c')}`,
        p,
      ),
    () => db.query<Record<string, unknown>>(`SELECT a.score, count(*) AS n FROM csat_answers a JOIN conversations c ON c.id = a.conversation_id WHERE a.at >= $1 AND a.at < $2 AND ${scoped('c')} GROUP BY a.score`, p),
    () =>
      db.query<Record<string, unknown>>(
        `SELECT a.agent, count(*) AS n, avg(a.score) AS avg FROM csat_answers a JOIN conversations c ON c.id = a.conversation_id WHERE a.agent IS NOT NULL AND a.at >= $1 AND a.at < $2 AND ${scoped('c')} GROUP BY a.agent`,
        p,
      ),
  ];
  const rows: Record<string, unknown>[][] = [];
  for (const q of queries) rows.push(await q());
  const [volume, first, resolution, csat, perAgentCsat] = rows as [Rows, Rows, Rows, Rows, Rows];
  const n = Number(volume[0]?.n ?? 0);
  const handed = Number(volume[0]?.handed ?? 0);
  const times = (rows: Record<string, unknown>[]) => rows.map((r) => Number(r.ms)).filter((x) => Number.isFinite(x) && x >= 0);
  const summary = (xs: number[]) => ({
    count: xs.length,
    avgMs: xs.length ? Math.round(xs.reduce((a, b) => a + b, 0) / xs.length) : null,
    p50Ms: xs.length ? Math.round([...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!) : null,
  });
  const distribution: Record<string, number> = { 1: 0, 2: 0, 3: 0, 4: 0, 5: 0 };
  for (const r of csat) distribution[String(r.score)] = Number(r.n);
  const answers = Object.values(distribution).reduce((a, b) => a + b, 0);
  const agents = new Map<string, SupportKpis['agents'][number]>();
  const agentOf = (name: string) => {
    let a = agents.get(name);
    if (!a) agents.set(name, (a = { agent: name, resolved: 0, firstReplies: 0, firstReplyAvgMs: null, resolutionAvgMs: null, csatCount: 0, csatAverage: null }));
    return a;
  };
  const avgBy = (rows: Record<string, unknown>[], set: (a: SupportKpis['agents'][number], count: number, avg: number) => void) => {
    const by = new Map<string, number[]>();
    for (const r of rows) if (typeof r.agent === 'string' && Number.isFinite(Number(r.ms))) by.set(r.agent, [...(by.get(r.agent) ?? []), Number(r.ms)]);
    for (const [name, xs] of by) set(agentOf(name), xs.length, Math.round(xs.reduce((a, b) => a + b, 0) / xs.length));
  };
  avgBy(first, (a, count, avg) => Object.assign(a, { firstReplies: count, firstReplyAvgMs: avg }));
  avgBy(resolution, (a, count, avg) => Object.assign(a, { resolved: count, resolutionAvgMs: avg }));
  for (const r of perAgentCsat) Object.assign(agentOf(r.agent as string), { csatCount: Number(r.n), csatAverage: Math.round(Number(r.avg) * 100) / 100 });
  return {
    conversations: n,
    handedOver: handed,
    containment: n ? (n - handed) / n : null,
    handoffRate: n ? handed / n : null,
    firstAgentReply: summary(times(first)),
    resolution: summary(times(resolution)),
    csat: { count: answers, average: answers ? Math.round((Object.entries(distribution).reduce((s, [k, v]) => s + Number(k) * v, 0) / answers) * 100) / 100 : null, distribution },
    agents: [...agents.values()].sort((a, b) => a.agent.localeCompare(b.agent)),
  };
}
