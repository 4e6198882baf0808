/** Publishing a model and hot reload, on a real Redis (standalone and cluster). */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createLogger } from '../../src/log';
import { BUNDLED_CORPUS, checkCorpus, mergeCorpora, readCorpus } from '../../src/nlu/corpus';
import { NluModel } from '../../src/nlu/model';
import { initialModel, NluService } from '../../src/nlu/service';
import { ModelStore, ModelStoreError } from '../../src/nlu/store';
import { connectRedis, type RedisClient } from '../../src/queue/redis';
import { redisTargets, tmpDir, uniquePrefix } from '../helpers/env';

const logger = createLogger('silent');
const extra = checkCorpus(
  {
    locale: 'en',
    data: [{ intent: 'gift.wrap', utterances: ['can you gift wrap it', 'do you offer gift wrapping', 'wrap it as a present please', 'is gift wrap available', 'I want it wrapped as a gift'], answers: ['Yes! Gift wrapping is free.'] }],
  },
  'extra',
);

for (const target of redisTargets()) {
  describe(`published models (${target.name})`, () => {
    let redis: RedisClient;
    let base: NluModel;
    let next: NluModel;
    before(async () => {
      redis = await connectRedis({ ...target, commandTimeoutMs: 2_000 }, () => undefined, 'test-nlu');
      const corpus = readCorpus(BUNDLED_CORPUS);
      base = await NluModel.train(corpus, { now: new Date('2026-01-01T00:00:00Z') });
      next = await NluModel.train(mergeCorpora([corpus, extra]), { now: new Date('2026-01-02T00:00:00Z') });
    });
    after(() => redis.disconnect());

    test('a running service switches to a newly published model without a restart, and back on rollback', async () => {
      const store = new ModelStore(redis, uniquePrefix('nlu'));
      const nlu = new NluService(base, { threshold: 0.5, reloadMs: 50 }, logger, undefined, store);
      assert.equal((await nlu.understand('can you gift wrap it')).intent === 'gift.wrap', false);
      await store.publish(next);
      // A message being classified while the switch happens completes with a model, never an error.
      const during = nlu.understand('can you gift wrap it');
      await nlu.check();
      await during;
      const after1 = await nlu.understand('can you gift wrap it');
      assert.equal(after1.intent, 'gift.wrap');
      assert.equal(after1.version, next.version);
    });

    test('rollback goes to the version published before; with nothing before, it says so', async () => {
      const store = new ModelStore(redis, uniquePrefix('nlu'));
      await assert.rejects(store.rollback(), ModelStoreError);
      await store.publish(base);
      await store.publish(next);
      const nlu = new NluService(base, { threshold: 0.5, reloadMs: 50 }, logger, undefined, store);
      nlu.start();
      try {
        const deadline = Date.now() + 5_000;
        while (nlu.model.version !== next.version && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
        assert.equal(nlu.model.version, next.version, 'the poll picked the published model up');
        assert.deepEqual(await store.rollback(), { from: next.version, to: base.version });
        await nlu.check();
        assert.equal(nlu.model.version, base.version);
        assert.notEqual((await nlu.understand('can you gift wrap it')).intent, 'gift.wrap');
        assert.deepEqual(await store.history(), [base.version]);
        await assert.rejects(store.rollback(), /fewer than two/);
      } finally {
        nlu.stop();
      }
    });

    test('a published model that cannot be loaded leaves the running model in place', async () => {
      const store = new ModelStore(redis, uniquePrefix('nlu'));
      const broken = { ...next.toFile(), version: 'broken-1', nlp: '{not json' };
      await store.publish(broken);
      const nlu = new NluService(base, { threshold: 0.5, reloadMs: 50 }, logger, undefined, store);
      await nlu.check();
      assert.equal(nlu.model.version, base.version);
      assert.equal((await nlu.understand('hello there')).intent, 'greetings.hello');
    });

    test('at start the published model wins over the corpus; without one the corpus is trained once and cached', async () => {
      const store = new ModelStore(redis, uniquePrefix('nlu'));
      const cacheDir = tmpDir('nlu-cache');
      const trained = await initialModel({ threshold: 0.5, reloadMs: 1_000, cacheDir }, store, logger);
      assert.equal(trained.meta.corpusHash, base.meta.corpusHash);
      const cached = await initialModel({ threshold: 0.5, reloadMs: 1_000, cacheDir }, store, logger);
      assert.equal(cached.version, trained.version, 'the second start loads the cached model instead of training');
      await store.publish(next);
      assert.equal((await initialModel({ threshold: 0.5, reloadMs: 1_000, cacheDir }, store, logger)).version, next.version);
    });
  });
}

describe('npm run train', () => {
  const run = (args: string[], env: Record<string, string>) =>
    spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/train.ts', ...args], { cwd: path.resolve(__dirname, '../..'), env: { PATH: process.env.PATH ?? '', ...env }, encoding: 'utf8' });

  test('trains corpus files into a versioned model file, publishes it, lists and rolls back; bad input is named', async () => {
    const dir = tmpDir('train-cli');
    const extraFile = path.join(dir, 'extra.json');
    fs.writeFileSync(extraFile, JSON.stringify(extra));
    const env = { REDIS_URL: redisTargets()[0]!.url!, REDIS_PREFIX: uniquePrefix('cli') };
    const first = run(['--out', path.join(dir, 'a.json'), '--publish'], env);
    assert.equal(first.status, 0, first.stderr);
    assert.match(first.stdout, /published \d{8}-\d{6}-[0-9a-f]{8}/);
    const second = run(['--corpus', BUNDLED_CORPUS, extraFile, '--out', path.join(dir, 'b.json'), '--publish'], env);
    assert.equal(second.status, 0, second.stderr);
    assert.ok(NluModel.load(path.join(dir, 'b.json')).meta.intents.includes('gift.wrap'), 'both corpora went into the model');
    const list = run(['--list'], env).stdout.trim().split('\n');
    assert.equal(list.length, 2);
    assert.match(list[0]!, /^\* /, 'the newest is live');
    const back = run(['--rollback'], env);
    assert.equal(back.status, 0, back.stderr);
    assert.match(run(['--list'], env).stdout, /^\* /);
    assert.match(run(['--rollback'], env).stderr, /fewer than two/);

    const bad = run(['--corpus', path.join(dir, 'missing.json')], env);
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /missing\.json is not a usable corpus:\n\s+- cannot be read: ENOENT/);
    assert.equal(run(['--bogus'], env).status, 2);
  });
});
