/** The NLU: accuracy on held-out sentences, entities, the threshold, model files and corpora. */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { before, describe, test } from 'node:test';
import { loadConfig } from '../../src/config';
import { normalizeSlot } from '../../src/bot/dialog';
import { BUNDLED_CORPUS, checkCorpus, corpusHash, CorpusError, mergeCorpora, readCorpus, splitCorpus } from '../../src/nlu/corpus';
import { ModelFileError, NluModel, NONE } from '../../src/nlu/model';

const THRESHOLD = loadConfig({}).nlu.threshold;
const corpus = readCorpus(BUNDLED_CORPUS);

describe('bundled model', () => {
  let model: NluModel;
  before(async () => {
    model = await NluModel.train(corpus);
  });

  test('the bundled corpus covers a shop: at least 20 intents of at least 12 varied utterances, with answers', () => {
    const intents = corpus.data.filter((d) => d.intent !== NONE);
    assert.ok(intents.length >= 20, `${intents.length} intents`);
    for (const d of intents) {
      assert.ok(d.utterances.length >= 12, `${d.intent}: ${d.utterances.length} utterances`);
      assert.ok(d.answers?.length, `${d.intent} has answers`);
    }
    assert.deepEqual(Object.keys(corpus.entities ?? {}).sort(), ['email', 'orderNumber', 'product']);
  });

  test('held-out sentences (every fifth of each intent, never trained on) are classified at least 90% right', async () => {
    const { train, test: heldOut } = splitCorpus(corpus, (i) => i % 5 === 4);
    const m = await NluModel.train(train);
    let right = 0;
    const wrong: string[] = [];
    for (const t of heldOut) {
      const p = await m.predict(t.text, THRESHOLD);
      if (p.intent === t.intent) right++;
      else wrong.push(`"${t.text}" → ${p.intent} (want ${t.intent})`);
    }
    const accuracy = right / heldOut.length;
    assert.ok(heldOut.length >= 80, `${heldOut.length} held-out sentences`);
    assert.ok(accuracy >= 0.9, `accuracy ${accuracy.toFixed(3)}; misses: ${wrong.join('; ')}`);
  });

  test('entities: order numbers in any spelling, emails, products by synonym; zip codes and phone numbers are not orders', async () => {
    const orders = async (text: string) => (await model.predict(text, THRESHOLD)).entities.filter((e) => e.entity === 'orderNumber').map((e) => normalizeSlot(e.entity, e.value));
    assert.deepEqual(await orders('where is my order SH-482913?'), ['SH-482913']);
    assert.deepEqual(await orders('is order sh482913 shipped yet'), ['SH-482913']);
    assert.deepEqual(await orders('order #SH 100200 please'), ['SH-100200']);
    assert.deepEqual(await orders('check order 482913'), ['SH-482913']);
    assert.deepEqual(await orders('my zip is 12345 and my phone 0612345678'), []);
    const mail = (await model.predict('my email is Jane.Doe+shop@example.co.uk.', THRESHOLD)).entities.find((e) => e.entity === 'email');
    assert.equal(mail?.value, 'Jane.Doe+shop@example.co.uk');
    const product = (await model.predict('do you have those trainers in size 42', THRESHOLD)).entities.find((e) => e.entity === 'product');
    assert.equal(product?.value, 'sneakers');
    assert.equal(product?.text, 'trainers');
    // Typos are forgiven in short messages (fuzzy matching is kept off longer ones: it is slow).
    const typo = (await model.predict('hoddie price?', THRESHOLD)).entities.find((e) => e.entity === 'product');
    assert.deepEqual([typo?.value, typo?.text], ['hoodie', 'hoddie']);
  });

  test('prediction: intent, score, top three best first, sentiment and language', async () => {
    const p = await model.predict('where is my order', THRESHOLD);
    assert.equal(p.intent, 'order.status');
    assert.ok(p.score >= THRESHOLD && p.score <= 1);
    assert.ok(p.intents.length >= 1 && p.intents.length <= 3);
    assert.equal(p.intents[0]!.intent, 'order.status');
    for (let i = 1; i < p.intents.length; i++) assert.ok(p.intents[i - 1]!.score >= p.intents[i]!.score);
    assert.equal(p.language, 'en');
    assert.ok((await model.predict('this is terrible, I hate it', THRESHOLD)).sentiment.score < 0);
    assert.ok((await model.predict('great, thank you so much', THRESHOLD)).sentiment.score > 0);
  });

  test('below the threshold the intent is None, whatever the best guess was', async () => {
    const gibberish = await model.predict('xqzv plorf wibble', THRESHOLD);
    assert.equal(gibberish.intent, NONE);
    assert.ok(gibberish.score < THRESHOLD);
    const offTopic = await model.predict('what is the weather like today', THRESHOLD);
    assert.equal(offTopic.intent, NONE, 'out-of-scope sentences land on the None examples');
    const p = await model.predict('can I pay with paypal', THRESHOLD);
    assert.equal(p.intent, 'payment.methods');
    const strict = await model.predict('payment', 0.999);
    assert.ok(strict.intent === NONE || strict.score >= 0.999, 'a score under a strict threshold never passes as an intent');
  });

  test('a saved model loads back with the same answers, entities included (nlp.js does not save regex rules itself)', async () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'nlu-')), 'm.model.json');
    model.save(file);
    const loaded = NluModel.load(file);
    assert.equal(loaded.version, model.version);
    assert.deepEqual(loaded.meta.intents, model.meta.intents);
    for (const s of ['where is my order SH-482913', 'email me at a@b.co', 'refund for my hoodie', 'hi', 'talk to a human']) {
      assert.deepEqual(await loaded.predict(s, THRESHOLD), await model.predict(s, THRESHOLD), s);
    }
    assert.deepEqual(loaded.slots('order.status'), { orderNumber: model.slots('order.status').orderNumber });
    assert.match(model.version, /^\d{8}-\d{6}-[0-9a-f]{8}$/);
    fs.writeFileSync(file, JSON.stringify({ hello: 'world' }));
    assert.throws(() => NluModel.load(file), ModelFileError);
    assert.throws(() => NluModel.load(`${file}.missing`), /cannot be read: ENOENT/);
  });
});

describe('corpora', () => {
  test('a bad corpus is rejected with every problem and where it is', () => {
    const err = (() => {
      try {
        checkCorpus(
          {
            locale: 'english',
            entities: { n: { regex: '/(unclosed/' }, e: {} },
            data: [
              { intent: 'bad name!', utterances: [] },
              { intent: 'ok', utterances: ['hi'], answers: [3] },
            ],
          },
          'c.json',
        );
      } catch (e) {
        return e as CorpusError;
      }
    })();
    assert.ok(err instanceof CorpusError);
    const all = err.problems.join('\n');
    for (const want of ['"locale"', 'entities.n.regex', 'entities.e needs', 'data[0].intent', 'data[0].utterances', 'data[1].answers']) assert.ok(all.includes(want), `${want} in:\n${all}`);
    assert.throws(() => checkCorpus([], 'x'), CorpusError);
  });

  test('corpora merge by intent without duplicates, and the hash ignores order', () => {
    const a = checkCorpus({ locale: 'en', data: [{ intent: 'x', utterances: ['one', 'two'], answers: ['A'] }], entities: { p: { options: { red: ['red'] } } } }, 'a');
    const b = checkCorpus(
      {
        locale: 'en-US',
        data: [
          { intent: 'x', utterances: ['two', 'three'] },
          { intent: 'y', utterances: ['why'] },
        ],
        entities: { p: { options: { red: ['crimson'], blue: ['blue'] } } },
      },
      'b',
    );
    const m = mergeCorpora([a, b]);
    assert.deepEqual(m.data.find((d) => d.intent === 'x')?.utterances, ['one', 'two', 'three']);
    assert.deepEqual(m.entities?.p?.options, { red: ['red', 'crimson'], blue: ['blue'] });
    assert.equal(corpusHash(mergeCorpora([a, b])), corpusHash({ ...m, data: [...m.data].reverse() }));
    assert.notEqual(corpusHash(a), corpusHash(m));
    assert.throws(() => mergeCorpora([a, checkCorpus({ locale: 'fr', data: [{ intent: 'z', utterances: ['salut'] }] }, 'fr')]), /train one model per language/);
  });
});
