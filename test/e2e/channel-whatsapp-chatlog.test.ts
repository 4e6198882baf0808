/**
 * WhatsApp's statuses in the chatlog, end to end (gateway, workers and the chatlog role as
 * processes, real PostgreSQL): delivered and read fill the reply's row, which stays one row;
 * a message older than the 24-hour window is logged as expired and not answered; an agent's
 * reply outside the window is refused by WhatsApp (131047) and recorded as failed, not retried.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { postgresClient, type SqlClient } from '../../src/chatlog/sql';
import { redisTargets, testPostgres } from '../helpers/env';
import { audit, sendLoad, waitForReplies, type Pipeline } from '../helpers/pipeline';
import { postWa, startWhatsAppPipeline, WA_NUMBERS, WA_USER_PREFIX, waBody, waChange } from '../helpers/whatsapp';
import { sleep, waitUntil } from '../helpers/wait';

const ADMIN_TOKEN = 'wa-chatlog-admin-token-0123456789';
const n = async (db: SqlClient, sql: string, params: unknown[] = []) => Number((await db.query<{ n: string }>(sql, params))[0]!.n);
const rowsOf = (db: SqlClient, user: string, direction: 'in' | 'out') =>
  db.query<Record<string, unknown>>('SELECT m.* FROM messages m JOIN conversations c ON c.id = m.conversation_id WHERE c.channel = $1 AND c.user_id = $2 AND m.direction = $3 ORDER BY m.id', ['whatsapp', user, direction]);

describe('whatsapp chatlog end to end', { timeout: 240_000 }, () => {
  const running: Pipeline[] = [];
  after(async () => {
    await Promise.all(running.map((p) => p.stop()));
  });

  test('statuses fill delivered_at and read_at of the reply’s one row; old messages are logged as expired; an agent reply outside the window is recorded as failed', async () => {
    const url = await testPostgres().database('wa_chatlog');
    const { p, wa, driver } = await startWhatsAppPipeline('wa-chatlog', redisTargets()[0]!.env, { databaseUrl: url, read: true, env: { ADMIN_TOKEN } });
    running.push(p);
    const db = postgresClient(url, () => undefined);
    try {
      const users = 20;
      const perUser = 3;
      const total = users * perUser;
      const load = await sendLoad(p.gateway.url, { users, perUser, driver, userPrefix: WA_USER_PREFIX });
      await waitForReplies(driver, load.expected, 60_000);
      assert.deepEqual(audit(driver, load.expected), { violations: [], duplicates: 0, lost: 0, outOfOrder: 0 });
      const out = "SELECT count(*) n FROM messages WHERE channel = 'whatsapp' AND direction = 'out'";
      await waitUntil('every reply delivered and read in the chatlog', async () => (await n(db, `${out} AND delivered_at IS NOT NULL AND read_at IS NOT NULL`)) >= total, 60_000, 200).catch(async (err: Error) => {
        const rows = await db.query('SELECT direction, count(*) n, count(delivered_at) delivered, count(read_at) read, count(text) texts FROM messages GROUP BY direction');
        throw new Error(`${err.message}: ${JSON.stringify(rows)}; statuses posted ${wa.statusesPosted}\n${p.chatlog?.output.slice(-10).join('\n')}`);
      });
      await sleep(500);
      assert.equal(await n(db, "SELECT count(*) n FROM messages WHERE channel = 'whatsapp' AND direction = 'in'"), total);
      assert.equal(await n(db, out), total, 'one row per reply: its statuses merged into the worker’s row');
      assert.equal(await n(db, `${out} AND (text IS NULL OR replied_at IS NULL OR reply_to_mid IS NULL)`), 0, 'no reply row without its text and times');
      assert.equal(await n(db, `${out} AND read_at < delivered_at`), 0, 'read after delivered');
      const mids = new Set((await db.query<{ mid: string }>(`SELECT mid FROM messages WHERE channel = 'whatsapp' AND direction = 'out'`)).map((r) => r.mid));
      assert.deepEqual(mids, new Set(wa.sent.map((m) => m.wamid)), 'reply rows are keyed by the wamids WhatsApp returned');
      assert.equal(await n(db, "SELECT sum(messages_out) n FROM conversations WHERE channel = 'whatsapp'"), total, 'counters count each reply once');

      // A message that reaches us more than 24 hours after it was sent: WhatsApp would refuse any answer.
      const late = `${WA_USER_PREFIX}9001`;
      const phone = WA_NUMBERS[0]!;
      const dayAgo = Date.now() - 25 * 3_600_000;
      const old = { from: late, id: 'wamid.old1', timestamp: String(Math.floor(dayAgo / 1000)), text: { body: 'are you there?' }, type: 'text' };
      assert.equal((await postWa(p.gateway.url, waBody(waChange(phone, { messages: [old], names: { [late]: 'Late user' } })))).body.queued, 1);
      await waitUntil('the late message logged', async () => (await rowsOf(db, late, 'in')).length === 1, 30_000, 200);
      const [inRow] = await rowsOf(db, late, 'in');
      assert.match(String(inRow!.error), /^expired/);
      assert.deepEqual(wa.messagesTo(late), [], 'not answered');

      // An agent answers anyway, outside the customer service window: WhatsApp accepts it, then fails it with 131047.
      wa.enforceWindow = true;
      wa.noteInbound(phone, late, dayAgo);
      const res = await fetch(`${p.gateway.url}/admin/api/conversations/whatsapp:${phone}:${late}/reply`, {
        method: 'POST',
        headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ text: 'Sorry for the wait!' }),
      });
      assert.equal(res.status, 202);
      await waitUntil('the refused reply recorded as failed', async () => (await rowsOf(db, late, 'out'))[0]?.failed_at, 30_000, 200);
      const [outRow] = await rowsOf(db, late, 'out');
      assert.deepEqual([outRow!.text, outRow!.error, outRow!.author, outRow!.delivered_at], ['Sorry for the wait!', '131047: Re-engagement message', 'agent', null]);
      await sleep(1_000);
      assert.equal(wa.messagesTo(late).length, 1, 'not retried');
      assert.deepEqual(wa.messagesTo(late)[0]!.statuses, ['failed']);
    } finally {
      await db.close();
    }
  });
});
