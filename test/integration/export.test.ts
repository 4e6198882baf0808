/**
 * Export of the chatlog for retraining, on real PostgreSQL and on PGlite: every filter, the
 * corrected intent winning, dedupe, pseudonyms and redaction, each format parsed back, the
 * CLI as a process, and a million messages exported under a small heap in bounded memory.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { ExportAbortedError, ExportInputError, exportMessages, parseExportFilters, redactText, type ExportCounts, type ExportFormat, type ExportOptions } from '../../src/chatlog/export';
import { migrate } from '../../src/chatlog/migrate';
import type { MessageRecord } from '../../src/chatlog/records';
import { pgliteClient, postgresClient, type SqlClient } from '../../src/chatlog/sql';
import { writeBatch } from '../../src/chatlog/writer';
import { BUNDLED_CORPUS, checkCorpus, mergeCorpora, readCorpus } from '../../src/nlu/corpus';
import { testPostgres, tmpDir } from '../helpers/env';

const ROOT = path.resolve(__dirname, '../..');
const T0 = Date.UTC(2026, 10, 1, 12, 0, 0);
const DAY = 86_400_000;
const TRICKY = 'He said "hi, there",\nthen left'; // comma, quotes, newline
const CONTACT = 'mail me at jane.doe@example.com or call +1 (555) 123-4567 about SH-482913';

const msg = (page: string, user: string, mid: string, at: number, text: string | undefined, intent?: string, score?: number, extra: Partial<MessageRecord> = {}): MessageRecord => ({
  t: 'msg',
  channel: 'messenger',
  account: page,
  user,
  mid,
  direction: 'in',
  author: 'user',
  kind: 'text',
  ...(text !== undefined ? { text } : {}),
  ...(intent ? { intent, score, intents: [{ intent, score }] } : {}),
  entities: [],
  platformTs: at,
  receivedAt: at + 5,
  ...extra,
});

/** mid → corrected intent, applied after the batch as an admin would. */
const CORRECTIONS: Record<string, string> = { 'm-refund': 'returns.start', 'm-weather': 'None' };
const SEED: MessageRecord[] = [
  msg('p1', 'u1', 'm-where', T0, 'where is my order', 'order.status', 0.9),
  {
    t: 'msg',
    channel: 'messenger',
    account: 'p1',
    user: 'u1',
    mid: 'r-where',
    direction: 'out',
    author: 'bot',
    kind: 'text',
    text: 'Sure, what is your order number?',
    replyToMid: 'm-where',
    replyIndex: 0,
    platformTs: T0 + 40,
    repliedAt: T0 + 40,
  },
  msg('p1', 'u1', 'm-where-again', T0 + 1_000, 'where is my order', 'order.status', 0.8),
  msg('p1', 'u1', 'm-photo', T0 + 2_000, undefined, undefined, undefined, { kind: 'image', attachments: [{ type: 'image' }] }),
  msg('p1', 'u1', 'm-blank', T0 + 3_000, '   ', 'None', 0.1),
  msg('p1', 'u2', 'm-refund', T0 + 4_000, 'I want my money back', 'order.status', 0.45),
  msg('p1', 'u2', 'm-tricky', T0 + 5_000, TRICKY, 'greeting', 0.6),
  msg('p1', 'u2', 'm-contact', T0 + 6_000, CONTACT, 'contact.human', 0.55, {
    entities: [
      { entity: 'email', value: 'jane.doe@example.com', text: 'jane.doe@example.com' },
      { entity: 'orderNumber', value: 'SH-482913', text: 'SH-482913' },
    ],
  }),
  msg('p2', 'u3', 'm-blah', T0 + 7_000, 'blah blah', 'None', 0.2),
  msg('p2', 'u3', 'm-weather', T0 + 8_000, "what's the weather", 'None', 0.3),
  msg('p2', 'u3', 'm-track', T0 + DAY, 'track [my](order) SH-100200', 'order.status', 0.95),
];

/** Runs an export into a string. */
async function run(db: SqlClient, query: Record<string, string | string[]>, format: ExportFormat, opts: ExportOptions = {}): Promise<{ text: string; counts: ExportCounts }> {
  const chunks: string[] = [];
  const out = new Writable({ write: (c: Buffer, _e, cb) => (chunks.push(c.toString('utf8')), cb()) });
  const counts = await exportMessages(db, parseExportFilters(query), format, out, opts);
  return { text: chunks.join(''), counts };
}

const jsonl = (text: string) =>
  text
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
const texts = (rows: Record<string, unknown>[]) => rows.map((r) => r.text);

/** RFC 4180, independent of the exporter: quoted fields hold commas, doubled quotes and line breaks. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') (field += '"'), i++;
      else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') row.push(field), (field = '');
    else if (c === '\r' && text[i + 1] === '\n') {
      row.push(field), rows.push(row), (row = []), (field = ''), i++;
    } else field += c;
  }
  assert.equal(quoted, false, 'no quoted field left open');
  assert.equal(field + row.join(''), '', 'the last row ends with CRLF');
  return rows;
}

const backends: { name: string; open: (label: string) => Promise<SqlClient> }[] = [
  { name: 'postgres', open: async (label) => postgresClient(await testPostgres().database(label), () => undefined) },
  { name: 'pglite', open: (label) => pgliteClient(tmpDir(label)) },
];

async function seeded(db: SqlClient): Promise<void> {
  await migrate(db);
  for (const m of SEED) await writeBatch(db, [m]); // one at a time: ids follow SEED's order
  for (const [mid, intent] of Object.entries(CORRECTIONS)) await db.query('UPDATE messages SET corrected_intent = $2 WHERE mid = $1', [mid, intent]);
}

for (const backend of backends) {
  describe(`export on ${backend.name}`, () => {
    let db: SqlClient;
    before(async () => {
      db = await backend.open('export');
      await seeded(db);
    });
    after(() => db.close());

    test('JSONL: inbound texts once each, the corrected intent winning, with scores, entities and times', async () => {
      const { text, counts } = await run(db, {}, 'jsonl');
      const rows = jsonl(text);
      assert.deepEqual(texts(rows), ['where is my order', 'I want my money back', TRICKY, CONTACT, 'blah blah', "what's the weather", 'track [my](order) SH-100200']);
      assert.deepEqual(counts, { rows: 9, written: 7, duplicates: 1, skipped: 1 }, 'the image has no text; the blank text is skipped');
      const refund = rows[1]!;
      assert.deepEqual([refund.intent, refund.predictedIntent, refund.correctedIntent, refund.score], ['returns.start', 'order.status', 'returns.start', 0.45]);
      assert.deepEqual(refund.intents, [{ intent: 'order.status', score: 0.45 }]);
      assert.equal(rows[0]!.receivedAt, new Date(T0 + 5).toISOString());
      assert.equal(rows[0]!.platformTs, new Date(T0).toISOString());
      assert.deepEqual([rows[0]!.direction, rows[0]!.kind, rows[0]!.channel, rows[0]!.account], ['in', 'text', 'messenger', 'p1']);
      assert.equal((rows[3]!.entities as unknown[]).length, 2);
    });

    test('user ids are pseudonyms: one per user within an export, new ones in the next, raw ids on request', async () => {
      const a = jsonl((await run(db, { dedupe: 'false' }, 'jsonl')).text);
      const users = (rows: Record<string, unknown>[]) => rows.map((r) => r.user as string);
      const [u1, , , u2] = users(a);
      assert.match(u1!, /^u_[A-Za-z0-9_-]{22}$/);
      assert.equal(users(a)[1], u1, 'the same user twice, the same pseudonym');
      assert.notEqual(u2, u1);
      assert.ok(!users(a).some((u) => /^u\d$/.test(u)), 'no raw id');
      const b = jsonl((await run(db, { dedupe: 'false' }, 'jsonl')).text);
      assert.notEqual(users(b)[0], u1, 'a new key for each export: two exports cannot be joined');
      const keyed = async () => users(jsonl((await run(db, {}, 'jsonl', { secret: 'shared-key' })).text))[0];
      assert.equal(await keyed(), await keyed(), 'a given secret gives stable pseudonyms');
      assert.deepEqual([...new Set(users(jsonl((await run(db, { 'raw-ids': '' }, 'jsonl')).text)))], ['u1', 'u2', 'u3']);
    });

    test('filters: dates, pages, scores, corrected only, intent (after correction), direction, no dedupe', async () => {
      const only = async (query: Record<string, string | string[]>) => texts(jsonl((await run(db, query, 'jsonl')).text));
      assert.deepEqual(await only({ from: new Date(T0 + DAY).toISOString() }), ['track [my](order) SH-100200']);
      const at = (mid: string) => new Date(SEED.find((m) => m.mid === mid)!.receivedAt!).toISOString();
      assert.deepEqual(await only({ from: at('m-contact'), to: at('m-track') }), [CONTACT, 'blah blah', "what's the weather"], 'from is inclusive, to exclusive');
      assert.deepEqual(await only({ from: '2026-11-01', to: '2026-11-01T12:00:00.006Z' }), ['where is my order'], 'dates and times');
      assert.deepEqual(await only({ page: 'p2' }), ['blah blah', "what's the weather", 'track [my](order) SH-100200']);
      assert.deepEqual(await only({ page: ['p2', 'p1'], to: '2026-11-01T12:00:04.100Z' }), ['where is my order', 'I want my money back']);
      assert.deepEqual(await only({ 'min-score': '0.5', 'max-score': '0.6' }), [TRICKY, CONTACT], 'both ends included');
      assert.deepEqual(await only({ 'min-score': '0.9' }), ['where is my order', 'track [my](order) SH-100200']);
      assert.deepEqual(await only({ 'corrected-only': 'true' }), ['I want my money back', "what's the weather"]);
      assert.deepEqual(await only({ intent: 'returns.start' }), ['I want my money back'], 'the corrected intent counts');
      assert.deepEqual(await only({ intent: 'order.status,greeting' }), ['where is my order', TRICKY, 'track [my](order) SH-100200'], 'not the predicted one it replaced');
      assert.deepEqual(await only({ direction: 'out' }), ['Sure, what is your order number?']);
      assert.equal((await only({ direction: 'all' })).length, 8);
      assert.deepEqual(await only({ dedupe: 'false', page: 'p1', 'max-score': '0.9', 'min-score': '0.8' }), ['where is my order', 'where is my order']);
    });

    test('redaction replaces emails and phone numbers in texts and entities, and keeps order numbers', async () => {
      const rows = jsonl((await run(db, { redact: '' }, 'jsonl')).text);
      const contact = rows.find((r) => String(r.text).startsWith('mail me'))!;
      assert.equal(contact.text, 'mail me at [email] or call [phone] about SH-482913');
      assert.deepEqual(contact.entities, [
        { entity: 'email', value: '[email]', text: '[email]' },
        { entity: 'orderNumber', value: 'SH-482913', text: 'SH-482913' },
      ]);
      assert.ok(!(await run(db, { redact: 'true' }, 'csv')).text.includes('example.com'));
      assert.equal(redactText('call 555-1234 or 06 12 34 56 78 on 2026-11-01, order 482913, 3.14159265'), 'call [phone] or [phone] on 2026-11-01, order 482913, 3.14159265');
    });

    test('CSV: a header and one RFC 4180 row per message; commas, quotes and line breaks survive', async () => {
      const { text } = await run(db, {}, 'csv');
      const [header, ...rows] = parseCsv(text);
      assert.deepEqual(header, ['id', 'channel', 'account', 'user', 'direction', 'kind', 'text', 'intent', 'predicted_intent', 'corrected_intent', 'score', 'intents', 'entities', 'sentiment', 'platform_ts', 'received_at', 'replied_at']);
      assert.equal(rows.length, 7);
      const col = (name: string) => rows.map((r) => r[header!.indexOf(name)]);
      assert.deepEqual(col('text'), texts(jsonl((await run(db, {}, 'jsonl')).text)));
      assert.ok(col('text').includes(TRICKY));
      assert.deepEqual(col('intent').slice(0, 2), ['order.status', 'returns.start']);
      assert.deepEqual(col('corrected_intent').slice(0, 2), ['', 'returns.start']);
      assert.deepEqual(JSON.parse(col('intents')[1]!), [{ intent: 'order.status', score: 0.45 }]);
    });

    test('nlp.js corpus: intents after correction, each text once, checkCorpus accepts it and it merges with the bundled corpus', async () => {
      const { text, counts } = await run(db, {}, 'nlpjs', { name: 'chatlog' });
      const doc = JSON.parse(text) as unknown;
      assert.equal(text, `${JSON.stringify(doc, null, 2)}\n`, 'laid out like the bundled corpus');
      const corpus = checkCorpus(doc, 'export');
      assert.equal(corpus.locale, 'en-US');
      assert.deepEqual(corpus.data, [
        { intent: 'None', utterances: ["what's the weather"] }, // corrected to None; the predicted None ("blah blah") is no label
        { intent: 'contact.human', utterances: [CONTACT] },
        { intent: 'greeting', utterances: [TRICKY] },
        { intent: 'order.status', utterances: ['where is my order', 'track [my](order) SH-100200'] },
        { intent: 'returns.start', utterances: ['I want my money back'] },
      ]);
      assert.deepEqual(counts, { rows: 7, written: 6, duplicates: 1, skipped: 0 });
      const merged = mergeCorpora([readCorpus(BUNDLED_CORPUS), corpus]);
      assert.ok(merged.data.find((d) => d.intent === 'order.status')!.utterances.includes('track [my](order) SH-100200'));
      const empty = await run(db, { intent: 'nothing.here' }, 'nlpjs', { name: 'none' });
      assert.deepEqual(JSON.parse(empty.text), { name: 'none', locale: 'en-US', data: [] });
    });

    test('Rasa YAML: version 3.1, an examples block per intent, one line per text, annotations defused', async () => {
      const { text } = await run(db, { intent: ['greeting', 'order.status', 'None'] }, 'rasa');
      assert.match(text, /^version: "3\.1"\nnlu:\n- intent: None\n {2}examples: \|\n {4}- what's the weather\n/);
      const doc = parseYaml(text) as { version: string; nlu: { intent: string; examples: string }[] };
      assert.equal(doc.version, '3.1');
      assert.deepEqual(
        doc.nlu.map((n) => [n.intent, n.examples]),
        [
          ['None', "- what's the weather\n"],
          ['greeting', '- He said "hi, there", then left\n'],
          ['order.status', '- where is my order\n- track [my] (order) SH-100200\n'],
        ],
      );
      assert.deepEqual(parseYaml((await run(db, { intent: 'nothing.here' }, 'rasa')).text), { version: '3.1', nlu: [] });
    });

    test('pages of any size give the same export (keyset and cursor paging)', async () => {
      for (const format of ['jsonl', 'csv', 'nlpjs', 'rasa'] as const) {
        const opts = { secret: 'k', name: 'n' };
        const [whole, paged] = [await run(db, { dedupe: 'false' }, format, opts), await run(db, { dedupe: 'false' }, format, { ...opts, pageSize: 2 })];
        assert.equal(paged.text, whole.text, format);
      }
    });

    test('a corpus format with outbound messages is refused before anything is read or written', async () => {
      let wrote = false;
      const out = new Writable({ write: (_c, _e, cb) => ((wrote = true), cb()) });
      await assert.rejects(exportMessages(db, parseExportFilters({ direction: 'out' }), 'nlpjs', out), ExportInputError);
      await assert.rejects(exportMessages(db, parseExportFilters({ direction: 'all' }), 'rasa', out), /direction must be in/);
      assert.equal(wrote, false);
      assert.equal(out.destroyed, false, 'the caller can still answer with an error');
    });

    test('backpressure: a slow destination gets everything and is never written while full; one that goes away stops the export', async () => {
      // 40 texts of 5 kB: several chunks, several pages.
      for (let i = 0; i < 40; i++) await writeBatch(db, [msg('p9', 'u9', `bulk-${i}`, T0 + 10_000 + i, `${i} ${'lorem ipsum '.repeat(400)}`, 'bulk', 0.5)]);
      try {
        for (const format of ['jsonl', 'nlpjs'] as const) {
          const opts = { secret: 'k', name: 'n', pageSize: 3 };
          const fast = (await run(db, { page: 'p9' }, format, opts)).text;
          const chunks: string[] = [];
          let [full, whileFull] = [0, 0];
          const slow = new Writable({ highWaterMark: 1024, write: (c: Buffer, _e, cb) => (chunks.push(c.toString()), setTimeout(cb, 5)) });
          const write = slow.write.bind(slow) as (c: unknown) => boolean;
          slow.write = ((c: unknown) => {
            if (slow.writableNeedDrain) whileFull++;
            const ok = write(c);
            if (!ok) full++;
            return ok;
          }) as typeof slow.write;
          await exportMessages(db, parseExportFilters({ page: 'p9' }), format, slow, opts);
          assert.equal(chunks.join(''), fast, format);
          assert.ok(full >= 2, `${format}: write() said the destination was full ${full} times`);
          assert.equal(whileFull, 0, `${format}: no write before 'drain'`);

          const gone: Writable = new Writable({ highWaterMark: 1, write: () => void setImmediate(() => gone.destroy()) });
          await assert.rejects(exportMessages(db, parseExportFilters({ page: 'p9' }), format, gone, opts), ExportAbortedError);
        }
      } finally {
        await db.query("DELETE FROM messages WHERE account_id = 'p9'");
      }
      assert.equal(jsonl((await run(db, {}, 'jsonl')).text).length, 7, 'the database is usable afterwards (the cursor transaction ended)');
    });
  });
}

describe('export filters from a query string or the CLI', () => {
  test('bad values are all named at once; good ones are typed', () => {
    assert.throws(
      () => parseExportFilters({ from: '2026-02-30', 'min-score': '2', direction: 'up', intent: 'bad name', colour: 'red', dedupe: 'maybe', to: ['2026-01-01', '2026-01-02'] }),
      (err: ExportInputError) => {
        assert.equal(err.problems.length, 7, err.message);
        assert.match(err.message, /unknown filter "colour"/);
        assert.match(err.message, /from "2026-02-30" must be an ISO date/);
        assert.match(err.message, /min-score "2" must be a number from 0 to 1/);
        return true;
      },
    );
    assert.throws(() => parseExportFilters({ from: '2026-11-02', to: '2026-11-01' }), /from must be before to/);
    assert.throws(() => parseExportFilters({ 'min-score': '0.8', 'max-score': '0.2' }), /min-score must not be above max-score/);
    assert.deepEqual(parseExportFilters({ format: 'csv', from: '2026-11-01T13:00+01:00', page: ['1', '2,3'], 'corrected-only': '', dedupe: 'false', 'raw-ids': '1', 'min-score': '.5' }), {
      from: new Date('2026-11-01T12:00:00Z'),
      accounts: ['messenger:1', 'messenger:2', 'messenger:3'],
      correctedOnly: true,
      direction: 'in',
      dedupe: false,
      rawIds: true,
      redact: false,
      minScore: 0.5,
    });
    assert.deepEqual(parseExportFilters({ to: '2026-11-01T12:00' }).to, new Date('2026-11-01T12:00:00Z'), 'no offset: UTC');
  });
});

describe('npm run export (the CLI as a process)', () => {
  let url: string;
  before(async () => {
    url = await testPostgres().database('export_cli');
    const db = postgresClient(url, () => undefined);
    await seeded(db);
    await db.close();
  });
  const cli = (args: string[], env: Record<string, string> = { DATABASE_URL: url }) =>
    spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/export.ts', ...args], { cwd: ROOT, env: { PATH: process.env.PATH ?? '', ...env }, encoding: 'utf8' });

  test('EXPORT_ID_SECRET gives every export the same pseudonyms, so exports can be joined; a short one is refused', () => {
    const users = (env: Record<string, string>) => {
      const r = cli(['--format', 'jsonl', '--no-dedupe'], { DATABASE_URL: url, ...env });
      assert.equal(r.status, 0, r.stderr);
      return jsonl(r.stdout).map((x) => x.user as string);
    };
    const secret = { EXPORT_ID_SECRET: 'a-stable-export-key-0123' };
    const first = users(secret);
    assert.match(first[0]!, /^u_[A-Za-z0-9_-]{22}$/);
    assert.deepEqual(users(secret), first, 'the same pseudonyms in a later export');
    assert.notDeepEqual(users({}), first, 'without it, a new key each export');
    const short = cli(['--format', 'jsonl'], { DATABASE_URL: url, EXPORT_ID_SECRET: 'short' });
    assert.equal(short.status, 1);
    assert.match(short.stderr, /EXPORT_ID_SECRET must be at least 16 characters/);
  });

  test('exports to stdout or to a file (which appears only when complete), with a summary on stderr', () => {
    const r = cli(['--format', 'jsonl', '--intent', 'order.status', '--no-dedupe', '--raw-ids']);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(
      jsonl(r.stdout).map((x) => [x.text, x.user]),
      [
        ['where is my order', 'u1'],
        ['where is my order', 'u1'],
        ['track [my](order) SH-100200', 'u3'],
      ],
    );
    assert.match(r.stderr, /export: 3 messages matched, 3 written, 0 duplicates/);
    const dir = tmpDir('export-cli');
    const file = path.join(dir, 'out.csv');
    const f = cli(['--format=csv', '--out', file, '--redact', '--from', '2026-11-01', '--to', '2026-11-02', '--page', 'p1']);
    assert.equal(f.status, 0, f.stderr);
    assert.equal(f.stdout, '');
    const rows = parseCsv(fs.readFileSync(file, 'utf8'));
    assert.equal(rows.length, 1 + 4);
    assert.ok(rows.some((row) => row.includes('mail me at [email] or call [phone] about SH-482913')));
    assert.deepEqual(fs.readdirSync(dir), ['out.csv'], 'no partial file left');
    const corpus = cli(['--format', 'nlpjs', '--corrected-only']);
    assert.deepEqual(
      checkCorpus(JSON.parse(corpus.stdout), 'cli').data.map((d) => d.intent),
      ['None', 'returns.start'],
    );
  });

  test('usage errors exit 2, bad values and unreachable databases exit 1, each with a clear message', () => {
    for (const args of [[], ['--format'], ['--format', 'csv', '--colour', 'red'], ['--format', 'csv', 'stray'], ['--format', 'csv', '--redact=yes']]) {
      const r = cli(args);
      assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, /usage: ordered-chatbot export/);
    }
    const cases: [string[], RegExp][] = [
      [['--format', 'xml'], /format must be one of nlpjs, jsonl, csv, rasa \(got "xml"\)/],
      [['--format', 'jsonl', '--min-score', 'high', '--from', 'yesterday'], /from "yesterday" must be an ISO date[\s\S]*min-score "high" must be a number/],
      [['--format', 'rasa', '--direction', 'out'], /direction must be in/],
      [['--format', 'csv', '--out', '/nonexistent-dir/x.csv'], /ENOENT/],
    ];
    for (const [args, re] of cases) {
      const r = cli(args);
      assert.equal(r.status, 1, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, re);
      assert.equal(r.stdout, '');
    }
    const down = cli(['--format', 'csv'], { DATABASE_URL: 'postgres://postgres@127.0.0.1:1/none' });
    assert.equal(down.status, 1);
    assert.match(down.stderr, /cannot reach the chatlog database/);
    const noTables = cli(['--format', 'csv'], { DATABASE_URL: url.replace(/\/[^/]+$/, '/postgres') });
    assert.equal(noTables.status, 1);
    assert.match(noTables.stderr, /no chatlog tables/);
  });

  test('dev mode: without DATABASE_URL it reads a copy of the PGlite chatlog under DATA_DIR', async () => {
    const dataDir = tmpDir('export-dev');
    const db = await pgliteClient(path.join(dataDir, 'pglite'));
    await seeded(db);
    await db.close();
    const r = cli(['--format', 'rasa', '--intent', 'greeting'], { DATA_DIR: dataDir });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(parseYaml(r.stdout), { version: '3.1', nlu: [{ intent: 'greeting', examples: '- He said "hi, there", then left\n' }] });
    const none = cli(['--format', 'csv'], { DATA_DIR: path.join(dataDir, 'empty') });
    assert.equal(none.status, 1);
    assert.match(none.stderr, /holds no PGlite database/);
  });
});

describe('a million messages', () => {
  const N = 1_000_000;
  let url: string;
  before(async () => {
    url = await testPostgres().database('export_1m');
    const db = postgresClient(url, () => undefined);
    await migrate(db);
    // The export does not use the full-text index, which is 60% of the time of generating the log.
    await db.query('DROP INDEX messages_text_search');
    await db.query("INSERT INTO accounts (channel, id) VALUES ('messenger', 'p1')");
    await db.query("INSERT INTO conversations (channel, account_id, user_id) SELECT 'messenger', 'p1', 'user-' || g FROM generate_series(1, 1000) g");
    // Two halves at once: one per core.
    await Promise.all(
      [
        [1, N / 2],
        [N / 2 + 1, N],
      ].map((range) =>
        db.query(
          `INSERT INTO messages (channel, account_id, mid, conversation_id, direction, kind, text, intent, score, intents, entities, platform_ts, received_at)
       SELECT 'messenger', 'p1', 'm' || g, 1 + g % 1000, 'in', 'text', 'message ' || g || ': where is my order, it was due on Tuesday',
              'intent.' || g % 20, (g % 100) / 100.0, jsonb_build_array(jsonb_build_object('intent', 'intent.' || g % 20, 'score', (g % 100) / 100.0)),
              '[]', timestamptz '2026-11-01' + g * interval '1 second', timestamptz '2026-11-01' + g * interval '1 second'
       FROM generate_series($1::int, $2::int) g`,
          range,
        ),
      ),
    );
    await db.query('ANALYZE messages');
    await db.close();
  });

  // The child prints its peak resident set size at exit. (Not getrusage's maxRSS: Linux carries
  // that over from the forking parent across exec, and the test process is the bigger one.)
  const PEAK = `data:text/javascript,${encodeURIComponent('import fs from "node:fs"; process.on("exit", () => process.stderr.write("VmHWM=" + /VmHWM:\\s*(\\d+)/.exec(fs.readFileSync("/proc/self/status", "utf8"))[1] + "\\n"));')}`;
  // 64 MB of JS heap: a process that held the messages would die of it.
  const exportInChild = (args: string[]) => {
    const started = Date.now();
    const r = spawnSync(process.execPath, ['--max-old-space-size=64', '--import', PEAK, '--import', 'tsx', 'src/cli/export.ts', ...args], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', DATABASE_URL: url },
      encoding: 'utf8',
      maxBuffer: 1024 * 1024,
    });
    assert.equal(r.status, 0, r.stderr);
    const peakMb = Number(/VmHWM=(\d+)/.exec(r.stderr)?.[1]) / 1024;
    assert.ok(peakMb > 0, r.stderr);
    return { peakMb, seconds: (Date.now() - started) / 1000, stderr: r.stderr };
  };
  const lines = (file: string) => {
    const buf = fs.readFileSync(file);
    let n = 0;
    for (let i = buf.indexOf(10); i !== -1; i = buf.indexOf(10, i + 1)) n++;
    return n;
  };

  test('JSONL (keyset pages, dedupe on) and the nlp.js corpus (one sorted cursor) stream in bounded memory', () => {
    const dir = tmpDir('export-1m');
    const idle = exportInChild(['--format', 'jsonl', '--intent', 'nothing.matches', '--out', path.join(dir, 'none.jsonl')]);
    const file = path.join(dir, 'all.jsonl');
    const flat = exportInChild(['--format', 'jsonl', '--out', file]);
    const sizeMb = fs.statSync(file).size / 2 ** 20;
    assert.equal(lines(file), N);
    assert.match(flat.stderr, /1000000 messages matched, 1000000 written/);
    fs.rmSync(file);
    const corpusFile = path.join(dir, 'corpus.json');
    const grouped = exportInChild(['--format', 'nlpjs', '--out', corpusFile, '--no-dedupe']);
    assert.equal(lines(corpusFile), N + 20 * 5 + 6, 'a line per utterance, five more per intent, six around them');
    fs.rmSync(corpusFile);
    process.stderr.write(
      `# peak RSS: empty export ${idle.peakMb.toFixed(0)} MB; 1M messages to JSONL (${sizeMb.toFixed(0)} MB) ${flat.peakMb.toFixed(0)} MB in ${flat.seconds.toFixed(1)} s; ` +
        `to an nlp.js corpus ${grouped.peakMb.toFixed(0)} MB in ${grouped.seconds.toFixed(1)} s\n`,
    );
    // Holding the messages would take more than the file's size; the export adds the dedupe set (16 MB) and a few pages.
    for (const [what, run] of [
      ['JSONL', flat],
      ['nlp.js', grouped],
    ] as const) {
      assert.ok(run.peakMb - idle.peakMb < 100, `${what}: peak RSS ${run.peakMb.toFixed(0)} MB against ${idle.peakMb.toFixed(0)} MB for an empty export`);
    }
    assert.ok(flat.peakMb < sizeMb / 2, `JSONL: peak RSS ${flat.peakMb.toFixed(0)} MB for a ${sizeMb.toFixed(0)} MB file`);
  });
});
