/**
 * Receipts and confirmations that name a message (WhatsApp statuses) in the chatlog, on real
 * PostgreSQL and PGlite: several receipts of one message in one batch all land; a confirmation
 * that carries no content and the sender's own record make one row with the sender's text and kind.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { migrate } from '../../src/chatlog/migrate';
import type { ChatlogRecord, MessageRecord, ReceiptRecord } from '../../src/chatlog/records';
import { pgliteClient, postgresClient, type SqlClient } from '../../src/chatlog/sql';
import { writeBatch } from '../../src/chatlog/writer';
import { testPostgres, tmpDir } from '../helpers/env';

const T0 = Date.UTC(2026, 10, 2, 9, 0, 0);
const conv = (user: string) => ({ channel: 'whatsapp', account: '106540352242922', user });
/** The worker's record of a reply it sent (it knows the text and the kind). */
const sent = (user: string, mid: string, extra: Partial<MessageRecord> = {}): MessageRecord => ({
  t: 'msg',
  ...conv(user),
  mid,
  direction: 'out',
  author: 'bot',
  kind: 'buttons',
  text: 'Pick one',
  replyToMid: `in-${mid}`,
  replyIndex: 0,
  startedAt: T0,
  sendMs: 12,
  repliedAt: T0 + 12,
  platformTs: T0 + 12,
  ...extra,
});
/** What the gateway records of a status confirming that reply: no text, a guessed kind, no author. */
const confirmed = (user: string, mid: string): MessageRecord => ({ t: 'msg', ...conv(user), mid, direction: 'out', kind: 'text', replyToMid: `in-${mid}`, replyIndex: 0, platformTs: T0 + 1_000, repliedAt: T0 + 1_000 });
const receipt = (user: string, mid: string, kind: ReceiptRecord['kind'], at: number, error?: string): ReceiptRecord => ({ t: 'receipt', ...conv(user), kind, mids: [mid], at, ...(error ? { error } : {}) });

const backends: { name: string; open: (label: string) => Promise<SqlClient> }[] = [
  { name: 'postgres', open: async (label) => postgresClient(await testPostgres().database(label), () => undefined) },
  { name: 'pglite', open: (label) => pgliteClient(tmpDir(label)) },
];

for (const backend of backends) {
  describe(`message receipts on ${backend.name}`, () => {
    let db: SqlClient;
    before(async () => {
      db = await backend.open('receipts');
      await migrate(db);
    });
    after(() => db.close());
    const row = async (mid: string) => (await db.query<Record<string, unknown>>("SELECT * FROM messages WHERE channel = 'whatsapp' AND mid = $1", [mid]))[0]!;
    const time = (v: unknown) => (v === null ? null : new Date(v as string).getTime());

    test('delivered and read statuses of one message, in the same batch, both land', async () => {
      await writeBatch(db, [sent('u1', 'w1')]);
      await writeBatch(db, [receipt('u1', 'w1', 'delivery', T0 + 2_000), receipt('u1', 'w1', 'read', T0 + 3_000)]);
      const r = await row('w1');
      assert.deepEqual([time(r.delivered_at), time(r.read_at)], [T0 + 2_000, T0 + 3_000]);
      // A read that arrives with a failure of the same message (several devices): each keeps its own time.
      await writeBatch(db, [sent('u1', 'w2'), receipt('u1', 'w2', 'read', T0 + 4_000), receipt('u1', 'w2', 'failed', T0 + 5_000, '131026: Message Undeliverable')]);
      const f = await row('w2');
      assert.deepEqual([time(f.delivered_at), time(f.read_at), time(f.failed_at), f.error], [T0 + 4_000, T0 + 4_000, T0 + 5_000, '131026: Message Undeliverable']);
    });

    test('a status that confirms a reply and the worker’s record make one row with the worker’s text and kind, whichever lands first', async () => {
      const orders: [string, ChatlogRecord[][]][] = [
        ['status first', [[confirmed('u2', 'w3')], [sent('u2', 'w3')]]],
        ['worker first', [[sent('u2', 'w4')], [confirmed('u2', 'w4')]]],
        ['one batch', [[confirmed('u2', 'w5'), sent('u2', 'w5')]]],
      ];
      for (const [label, batches] of orders) {
        for (const b of batches) await writeBatch(db, b);
        const mid = (batches[0]![0] as MessageRecord).mid;
        const r = await row(mid);
        assert.deepEqual([r.kind, r.text, r.author, r.send_ms], ['buttons', 'Pick one', 'bot', 12], label);
      }
      assert.equal(Number((await db.query<{ n: string }>("SELECT messages_out n FROM conversations WHERE channel = 'whatsapp' AND user_id = 'u2'"))[0]!.n), 3, 'one reply, one count, each');
    });
  });
}
