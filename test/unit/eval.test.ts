/** `npm run eval`: corpus formats, the metrics, k-fold splits, and the CLI as a process. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import { BUNDLED_CORPUS, CorpusError, readCorpus, type Corpus } from '../../src/nlu/corpus';
import { kFolds, score, toMarkdown } from '../../src/nlu/eval';
import { parseCorpusText, readCorpusFile } from '../../src/nlu/formats';
import { csvRow } from '../../src/chatlog/export/formats';
import { NluModel } from '../../src/nlu/model';

const ROOT = path.resolve(__dirname, '..', '..');
// A copy of ../shared/datasets/nlu-evaluation-corpora (CC BY-SA 3.0, see its LICENSE and SOURCE.md): a clean clone has no ../shared.
const CORPORA = path.join(ROOT, 'test', 'fixtures', 'nlu-evaluation-corpora');
const CHATBOT = path.join(CORPORA, 'ChatbotCorpus.json');
const tmp = () => fs.mkdtempSync(path.join(process.env.TEST_TMP ?? os.tmpdir(), 'eval-'));
const utterances = (c: Corpus, intent: string) => c.data.find((d) => d.intent === intent)?.utterances;

function problems(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof CorpusError, `a CorpusError, not ${String(err)}`);
    return err.message;
  }
  assert.fail('no error');
}

describe('corpus formats', () => {
  test('CSV: quoted fields keep their commas, doubled quotes and line breaks; CRLF and blank lines are fine', () => {
    const csv = 'intent,text\r\ngreet,hello\r\norder,"where is my order, SH-482913?"\r\n\r\norder,"she said ""track it"" twice"\r\nmulti,"line one\r\nline two"\r\norder,where is my order\n';
    const { format, corpus, test: held } = parseCorpusText(csv, 'shop.csv');
    assert.equal(format, 'csv');
    assert.equal(held, undefined);
    assert.equal(corpus.locale, 'en');
    assert.deepEqual(utterances(corpus, 'order'), ['where is my order, SH-482913?', 'she said "track it" twice', 'where is my order']);
    assert.deepEqual(utterances(corpus, 'multi'), ['line one\r\nline two']);
    assert.deepEqual(
      corpus.data.map((d) => d.intent),
      ['greet', 'order', 'multi'],
    );
  });

  test('CSV export: texts a spreadsheet would run as formulas are neutralised, and eval reads them back exactly', () => {
    const texts = ['=HYPERLINK("http://evil.example","click")', '+1 555 0100', '-2+3', '@SUM(A1)', "'=already quoted", "''@twice", "'hello", '- item', 'plain'];
    const rows = texts.map((t) => csvRow([t, 'greet', -0.3, 0.5])).join('');
    // What a spreadsheet sees: no cell starts with a formula character, numbers stay numbers.
    assert.equal(csvRow(['=1+1', '-0.3', -0.25, 'x']), "'=1+1,-0.3,-0.25,x\r\n");
    assert.equal(csvRow(['@SUM(A1)', '+1', '-2+3', "'=x"]), "'@SUM(A1),'+1,'-2+3,''=x\r\n");
    assert.equal(csvRow(['\t=1']), "'\t=1\r\n", 'a tab before the formula too (corpora trim it anyway)');
    const { corpus } = parseCorpusText(`text,intent,sentiment,score\r\n${rows}`, 'export.csv');
    assert.deepEqual(utterances(corpus, 'greet'), texts, 'the exact texts come back');
  });

  test('CSV: a bad file is refused naming the file and the line', () => {
    assert.match(
      problems(() => parseCorpusText('sentence,label\nhi,greet\n', 'a.csv')),
      /a\.csv.*\n.*line 1: the first line must be the header text,intent/,
    );
    assert.match(
      problems(() => parseCorpusText('text,intent\nhi,greet\n"never closed,greet\n', 'b.csv')),
      /b\.csv[^]*line 3: a quoted field is never closed/,
    );
    assert.match(
      problems(() => parseCorpusText('text,intent\nhi,greet\nno intent here\n,greet\n', 'c.csv')),
      /line 3: the intent is empty[^]*line 4: the text is empty/,
    );
    assert.match(
      problems(() => parseCorpusText('text,intent\nsay "hi",greet\n', 'd.csv')),
      /line 2: a quote inside an unquoted field/,
    );
  });

  test('Rasa YAML: examples stripped of their entity annotations, which become entities; lookups and regexes too', () => {
    const yaml = [
      'version: "3.1"',
      'nlu:',
      '- intent: greet',
      '  examples: |',
      '    - hey',
      '    - good morning',
      '- intent: order.status',
      '  examples: |',
      '    - [SH-123456](orderNumber) please',
      '    - where is [my hoodie]{"entity": "product", "value": "hoodie"}',
      '    - track [sh 100200](orderNumber:SH-100200)',
      '- lookup: city',
      '  examples: |',
      '    - Berlin',
      '- regex: zip',
      '  examples: |',
      '    - \\d{5}',
    ].join('\n');
    const { format, corpus } = parseCorpusText(yaml, 'nlu.yml');
    assert.equal(format, 'rasa-yaml');
    assert.deepEqual(utterances(corpus, 'greet'), ['hey', 'good morning']);
    assert.deepEqual(utterances(corpus, 'order.status'), ['SH-123456 please', 'where is my hoodie', 'track sh 100200']);
    assert.deepEqual(corpus.entities?.orderNumber?.options, { 'SH-123456': ['SH-123456'], 'SH-100200': ['sh 100200'] });
    assert.deepEqual(corpus.entities?.product?.options, { hoodie: ['my hoodie'] });
    assert.deepEqual(corpus.entities?.city?.options, { Berlin: ['Berlin'] });
    assert.deepEqual(corpus.entities?.zip?.regex, ['/\\d{5}/g']);
    assert.match(
      problems(() => parseCorpusText('nlu:\n- intent: greet\n  examples: |\n    - hi\n  bad: [unclosed\n', 'x.yml')),
      /x\.yml[^]*line \d+/,
    );
    assert.match(
      problems(() => parseCorpusText('nlu:\n- intent: greet\n  examples: |\n    - hi\n- examples: |\n    - orphan\n', 'y.yaml')),
      /y\.yaml[^]*line 5: the item needs "intent:"/,
    );
    assert.match(
      problems(() => parseCorpusText('stories: []\n', 'z.yml')),
      /want a top-level "nlu:" list/,
    );
  });

  test('Rasa JSON: common examples with their entity spans', () => {
    const doc = {
      rasa_nlu_data: {
        common_examples: [
          { text: 'hi there', intent: 'greet', entities: [] },
          { text: 'show me chinese restaurants', intent: 'restaurant_search', entities: [{ start: 8, end: 15, value: 'chinese', entity: 'cuisine' }] },
        ],
        regex_features: [{ name: 'zipcode', pattern: '[0-9]{5}' }],
      },
    };
    const { format, corpus } = parseCorpusText(JSON.stringify(doc), 'rasa.json');
    assert.equal(format, 'rasa-json');
    assert.deepEqual(utterances(corpus, 'restaurant_search'), ['show me chinese restaurants']);
    assert.deepEqual(corpus.entities?.cuisine?.options, { chinese: ['chinese'] });
    assert.deepEqual(corpus.entities?.zipcode?.regex, ['/[0-9]{5}/g']);
    const bad = { rasa_nlu_data: { common_examples: [{ text: 'ok', intent: 'yes' }, { text: 'no intent' }] } };
    assert.match(
      problems(() => parseCorpusText(JSON.stringify(bad), 'r.json')),
      /common_examples\[1\]: the intent is empty/,
    );
  });

  test('evaluation corpora: the training flag is the published split; nlp.js JSON reads as readCorpus does', () => {
    const { format, corpus, test: held } = readCorpusFile(CHATBOT);
    assert.equal(format, 'nlu-evaluation');
    assert.equal(held?.length, 106);
    const trained = new Set(corpus.data.flatMap((d) => d.utterances));
    assert.ok(trained.size >= 99);
    for (const t of held!) assert.ok(!trained.has(t.text), `test sentence trained on: ${t.text}`);
    assert.deepEqual(corpus.data.map((d) => d.intent).sort(), ['DepartureTime', 'FindConnection']);
    assert.ok(corpus.entities?.StationDest?.options, 'annotated entities of the train part become entities');
    assert.match(
      problems(() => parseCorpusText('{"sentences":[{"text":"a","intent":"x","training":"yes"}]}', 'e.json')),
      /sentences\[0\]\.training must be true or false/,
    );
    assert.deepEqual(readCorpusFile(BUNDLED_CORPUS).corpus, readCorpus(BUNDLED_CORPUS));
    assert.match(
      problems(() => parseCorpusText('{"locale": "en",\n "data": [}\n', 'broken.json')),
      /broken\.json[^]*not valid JSON: line 2: Unexpected token/,
    );
    assert.match(
      problems(() => readCorpusFile('/nonexistent/c.csv')),
      /cannot be read: ENOENT/,
    );
  });
});

describe('metrics', () => {
  test('precision, recall, F1, macro-F1 and the confusion matrix of a hand-worked example', () => {
    const pairs: [string, string][] = [
      ['a', 'a'],
      ['a', 'a'],
      ['a', 'b'],
      ['b', 'b'],
      ['b', 'None'],
      ['c', 'a'],
    ];
    const r = score(pairs.map(([intent, predicted]) => ({ text: `${intent}→${predicted}`, intent, predicted, score: 0.9 })));
    assert.equal(r.accuracy, 0.5);
    assert.deepEqual([r.correct, r.total], [3, 6]);
    assert.deepEqual(r.confusion, {
      labels: ['a', 'b', 'c', 'None'],
      matrix: [
        [2, 1, 0, 0],
        [0, 1, 0, 1],
        [1, 0, 0, 0],
        [0, 0, 0, 0],
      ],
    });
    assert.deepEqual(r.perIntent.a, { precision: 0.6667, recall: 0.6667, f1: 0.6667, support: 3 });
    assert.deepEqual(r.perIntent.b, { precision: 0.5, recall: 0.5, f1: 0.5, support: 2 });
    assert.deepEqual(r.perIntent.c, { precision: 0, recall: 0, f1: 0, support: 1 });
    assert.deepEqual(r.perIntent.None, { precision: 0, recall: 0, f1: 0, support: 0 }); // predicted, never right
    assert.equal(r.macroF1, 0.2917); // (2/3 + 1/2 + 0 + 0) / 4
    assert.deepEqual(
      r.misses.map((m) => m.text),
      ['a→b', 'b→None', 'c→a'],
    );
    const md = toMarkdown(r, 'tiny');
    assert.match(md, /Accuracy \*\*0\.500\*\* \(3 of 6\), macro-F1 \*\*0\.292\*\*/);
    assert.match(md, /\| \*\*a\*\* \| \*\*2\*\* \| 1 \| · \| · \|/);
  });
});

describe('k folds', () => {
  const corpus = readCorpus(BUNDLED_CORPUS);

  test('deterministic, stratified by intent, and no fold tests a sentence it trained on', () => {
    const folds = kFolds(corpus, 5);
    assert.deepEqual(kFolds(corpus, 5), folds, 'the same folds every time');
    const all = corpus.data.flatMap((d) => d.utterances.map((u) => `${d.intent}|${u}`)).sort();
    assert.deepEqual(folds.flatMap((f) => f.test.map((t) => `${t.intent}|${t.text}`)).sort(), all, 'every sentence is tested exactly once');
    const sizes = folds.map((f) => f.test.length);
    assert.ok(Math.max(...sizes) - Math.min(...sizes) <= 1, `fold sizes ${sizes}`);
    for (const d of corpus.data) {
      const per = folds.map((f) => f.test.filter((t) => t.intent === d.intent).length);
      assert.ok(Math.max(...per) - Math.min(...per) <= 1, `${d.intent} spread ${per}`);
    }
    for (const f of folds) {
      const trained = new Set(f.train.data.flatMap((d) => d.utterances.map((u) => u.trim().toLowerCase())));
      for (const t of f.test) assert.ok(!trained.has(t.text.trim().toLowerCase()), `"${t.text}" is trained on and tested`);
    }
  });

  test('a sentence repeated (even under two intents) stays in one fold', () => {
    const dup: Corpus = {
      locale: 'en',
      data: [
        { intent: 'x', utterances: ['same', 'one', 'two', 'three'] },
        { intent: 'y', utterances: ['Same ', 'four', 'five', 'six'] },
      ],
    };
    for (const f of kFolds(dup, 3)) {
      const tested = f.test.some((t) => t.text.trim().toLowerCase() === 'same');
      const trained = f.train.data.some((d) => d.utterances.some((u) => u.trim().toLowerCase() === 'same'));
      assert.ok(!(tested && trained));
    }
    assert.throws(() => kFolds(dup, 1), RangeError);
    assert.throws(() => kFolds(dup, 9), /9 folds need at least 9 sentences/);
  });
});

describe('npm run eval', () => {
  const run = (...args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/eval.ts', ...args], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });

  test('on the Chatbot corpus: trains on the train part, scores the test part, writes --json and --md', () => {
    const dir = tmp();
    const json = path.join(dir, 'r.json');
    const md = path.join(dir, 'r.md');
    const r = run('--corpus', CHATBOT, '--json', json, '--md', md);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /published split \(99 sentences to train, 106 to score\)/);
    assert.match(r.stdout, /accuracy 0\.\d{3} \(\d+ of 106\)/);
    assert.match(r.stdout, /confusion matrix/);
    const out = JSON.parse(fs.readFileSync(json, 'utf8'));
    // Measured 0.991 (105 of 106); the floor leaves room for nlp.js updates, not for a broken pipeline.
    assert.ok(out.accuracy >= 0.95, `accuracy ${out.accuracy}`);
    assert.equal(out.total, 106);
    assert.ok(out.perIntent.FindConnection.f1 > 0.9);
    assert.deepEqual(out.confusion.labels.slice(0, 2), ['DepartureTime', 'FindConnection']);
    assert.match(fs.readFileSync(md, 'utf8'), /^# ChatbotCorpus\.json/);
  });

  test('--folds on a CSV corpus and --test with a second file', () => {
    const dir = tmp();
    const rows = ['text,intent'];
    for (const [intent, words] of [
      ['greet', ['hello', 'hi there', 'good morning', 'hey you', 'hello friend', 'hi bot']],
      ['bye', ['goodbye', 'see you later', 'bye now', 'farewell friend', 'good night', 'bye bot']],
    ] as const)
      for (const w of words) rows.push(`"${w}",${intent}`);
    const csv = path.join(dir, 'small.csv');
    fs.writeFileSync(csv, `${rows.join('\n')}\n`);
    const json = path.join(dir, 'folds.json');
    const r = run('--corpus', csv, '--folds', '3', '--json', json);
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(fs.readFileSync(json, 'utf8'));
    assert.equal(out.total, 12);
    assert.equal(out.folds.length, 3);
    const test = path.join(dir, 'test.csv');
    fs.writeFileSync(test, 'text,intent\nhello there,greet\nbye bye,bye\n');
    const t = run('--corpus', csv, '--test', test);
    assert.equal(t.status, 0, t.stderr);
    assert.match(t.stdout, /\(12 sentences to train, 2 to score\)/);
  });

  test('bad input exits 1 naming the file and line; usage errors exit 2', () => {
    const dir = tmp();
    const bad = path.join(dir, 'bad.csv');
    fs.writeFileSync(bad, 'text,intent\nhello,greet\n"oops,greet\n');
    const r = run('--corpus', bad);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /bad\.csv is not a usable corpus[^]*line 3: a quoted field is never closed/);
    const unsplit = run('--corpus', BUNDLED_CORPUS);
    assert.equal(unsplit.status, 2);
    assert.match(unsplit.stderr, /has no test split[^]*--folds K/);
    assert.equal(run('--corpus', CHATBOT, '--folds', '3', '--test', CHATBOT).status, 2);
    assert.match(run('--folds', 'x').stderr, /--folds needs a whole number/);
    assert.match(run().stderr, /usage: ordered-chatbot eval/);
  });
});

describe('model normalisation', () => {
  test('a number is one token, in training and in prediction; a model file without the step classifies as before', async () => {
    const model = await NluModel.train({
      locale: 'en',
      data: [
        { intent: 'upgrade', utterances: ['install version 12', 'upgrade to the new release'] },
        { intent: 'packages', utterances: ['install package foo', 'which package should I use'] },
      ],
    });
    const p = await model.predict('install version 99', 0.5);
    assert.deepEqual([p.intent, p.score], ['upgrade', 1], 'the same sentence as a trained one, but for the number');
    assert.deepEqual(model.toFile().normalization, ['numbers']);
    const { normalization: _, ...old } = model.toFile();
    assert.ok((await NluModel.fromFile(old).predict('install version 99', 0.5)).score < 1, 'an older model keeps its behaviour');
  });
});
