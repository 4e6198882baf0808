/**
 * Floods: beyond QUEUE_MAX_PER_CONVERSATION a conversation's events wait in its overflow list
 * and are answered, in their order, as the queue drains — user messages and agent actions
 * alike — and every one is logged. Gateway, worker and chatlog role as separate processes, on
 * standalone Redis and on a cluster.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { postgresClient } from '../../src/chatlog/sql';
import { redisTargets, testPostgres } from '../helpers/env';
import { encodeLikeFacebook } from '../../src/channels/meta/signature';
import { startTestApp } from '../helpers/app';
import { body, post, postRaw, text } from '../helpers/fb';
import { startPipeline, type Pipeline } from '../helpers/pipeline';
import { sleep, waitUntil } from '../helpers/wait';

const ADMIN_TOKEN = 'overflow-admin-token-0123456789';

for (const target of redisTargets()) {
  describe(`overflow on ${target.name} redis`, { timeout: 120_000 }, () => {
    const running: Pipeline[] = [];
    after(async () => {
      await Promise.all(running.map((p) => p.stop()));
    });

    test('cap 3: ten messages, an agent reply and one more message, all answered in order and logged', async () => {
      const databaseUrl = await testPostgres().database(`overflow-${target.name}`);
      // No worker yet: everything beyond the cap of 3 has to wait in the overflow list.
      const p = await startPipeline(`overflow-${target.name}`, target.env, { workers: 0, databaseUrl, env: { QUEUE_MAX_PER_CONVERSATION: '3', ADMIN_TOKEN } });
      running.push(p);
      const user = `flood-${target.name}`;
      const say = async (n: number) => {
        // Real send times, as Facebook stamps them: the agent's action is stamped with the server clock.
        const r = await post(p.gateway.url, body([text('101', user, Date.now(), `m-${user}-${n}`, `message ${n}`)]));
        assert.equal(r.status, 200, JSON.stringify(r.body));
        await sleep(2);
        return r.body.queued === 1 ? 'queued' : r.body.overflow === 1 ? 'overflow' : JSON.stringify(r.body);
      };
      const outcomes: string[] = [];
      for (let n = 1; n <= 10; n++) outcomes.push(await say(n));
      assert.deepEqual(outcomes, [...Array(3).fill('queued'), ...Array(7).fill('overflow')]);

      const agent = await fetch(`${p.gateway.url}/admin/api/conversations/101:${user}/reply`, {
        method: 'POST',
        headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ text: 'An agent here: I read all ten.' }),
      });
      assert.equal(agent.status, 202);
      assert.equal(((await agent.json()) as { status: string }).status, 'overflow', 'the agent action waits behind the user messages');
      await sleep(2);
      assert.equal(await say(11), 'overflow', 'a later message goes behind the parked ones');

      await p.startWorker('worker1');
      await waitUntil('twelve messages sent', () => p.graph.messagesTo(user).length >= 12, 60_000);
      await sleep(500); // a duplicate would show up here
      const sent = p.graph.messagesTo(user).map((c) => c.text);
      assert.deepEqual(sent, [...Array.from({ length: 10 }, (_, i) => `You said: "message ${i + 1}"`), 'An agent here: I read all ten.', 'You said: "message 11"']);

      const db = postgresClient(databaseUrl, () => undefined);
      try {
        const rows = async () =>
          db.query<{ direction: string; text: string; author: string | null; reply_to_mid: string | null }>(
            `SELECT m.direction, m.text, m.author, m.reply_to_mid FROM messages m JOIN conversations c ON c.id = m.conversation_id
             WHERE c.account_id = '101' AND c.user_id = $1 ORDER BY m.platform_ts, m.direction`,
            [user],
          );
        await waitUntil('23 chatlog rows', async () => (await rows()).length >= 23, 30_000, 200);
        const log = await rows();
        const inbound = log.filter((r) => r.direction === 'in').map((r) => r.text);
        assert.deepEqual(
          inbound,
          Array.from({ length: 11 }, (_, i) => `message ${i + 1}`),
          'every message logged once',
        );
        const replies = log.filter((r) => r.direction === 'out');
        assert.equal(replies.length, 12, 'every reply logged once');
        for (let n = 1; n <= 11; n++)
          assert.ok(
            replies.some((r) => r.reply_to_mid === `m-${user}-${n}`),
            `reply to message ${n} logged`,
          );
        assert.ok(
          replies.some((r) => r.author === 'agent' && r.text === 'An agent here: I read all ten.'),
          'the agent reply logged as the agent',
        );
      } finally {
        await db.close();
      }
      const metrics = await (await fetch(`${p.gateway.url}/metrics`)).text();
      assert.match(metrics, /^cb_queue_overflow_total 9$/m, 'the nine events that waited are counted');
    });

    test('QUEUE_OVERFLOW_MAX: beyond it a POST gets 503 so Facebook retries; its other events are queued, and the retry is taken once there is room', async () => {
      const app = await startTestApp(`full-${target.name}`, { ...target.env, ROLE: 'gateway', QUEUE_MAX_PER_CONVERSATION: '1', QUEUE_OVERFLOW_MAX: '1' });
      try {
        assert.equal((await post(app.url, body([text('101', 'full', 1, 'm-full-1', 'one')]))).body.queued, 1);
        assert.equal((await post(app.url, body([text('101', 'full', 2, 'm-full-2', 'two')]))).body.overflow, 1);
        // One POST, two users: the flooding user's event is refused, the other user's is queued.
        const mixed = encodeLikeFacebook(body([text('101', 'calm', 3, 'm-calm-1', 'hello'), text('101', 'full', 3, 'm-full-3', 'three')]));
        const refused = await postRaw(app.url, mixed);
        assert.equal(refused.status, 503);
        assert.match(refused.body.error, /conversation queue full/);
        const retry = await postRaw(app.url, mixed);
        assert.equal(retry.status, 503, 'still full');
        // A worker answers the first message: the second moves into the queue, and the retry fits.
        const k = app.queue.keys.conversation('101:full');
        await app.redis.set(k.lock, 'test', 'PX', 5_000);
        const head = await app.queue.next('101:full', 'test');
        assert.ok(head.code === 0);
        await app.queue.next('101:full', 'test', { member: head.member, id: JSON.parse(head.payload).id, sent: 1 });
        await app.redis.del(k.lock);
        const taken = await postRaw(app.url, mixed);
        assert.deepEqual([taken.status, taken.body.duplicates, taken.body.overflow], [200, 1, 1], "the calm user's event was queued the first time; the refused one was not marked seen");
        const metrics = await (await fetch(`${app.url}/metrics`)).text();
        assert.match(metrics, /^cb_queue_overflow_refused_total 2$/m);
        assert.match(metrics, /^cb_webhook_requests_total\{status="503"\} 2$/m);
      } finally {
        await app.stop();
      }
    });
  });
}
