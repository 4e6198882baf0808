/**
 * The retraining loop end to end: real conversations in the chatlog → an agent corrects
 * the labels → export → eval shows the corrected examples now classified right → the admin
 * retrains and publishes → the running worker answers with the new model, no restart.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startAdminApp } from '../helpers/admin';
import { tmpDir } from '../helpers/env';
import { waitUntil } from '../helpers/wait';

const ROOT = path.resolve(__dirname, '../..');
// Ways of asking for an order that the bundled model gets wrong.
const MISSED = ['any news on my stuff', 'my stuff is taking ages', 'still waiting on my stuff', 'my stuff hasnt turned up, wheres it at'];
const UNSEEN = 'got any news about my stuff';

const cli = (script: string, args: string[], env: Record<string, string>) => spawnSync(process.execPath, ['--import', 'tsx', `src/cli/${script}.ts`, ...args], { cwd: ROOT, env: { PATH: process.env.PATH ?? '', ...env }, encoding: 'utf8' });

describe('retraining loop', { timeout: 180_000 }, () => {
  let app: Awaited<ReturnType<typeof startAdminApp>>;
  before(async () => {
    app = await startAdminApp('retrain');
  });
  after(() => app?.stop());

  test('corrected conversations become a better published model that the running worker uses', async () => {
    const ann = await app.signIn('ann');
    for (const [i, text] of MISSED.entries()) await app.say('101', `r${i}`, text);
    await app.say('101', 'probe1', UNSEEN);
    const before = (await app.api('/conversations/101:probe1')).json.messages;
    assert.notEqual(before[0].intent, 'order.status', 'the model misses it at first');
    assert.doesNotMatch(before[1].text, /order number/);

    for (const [i] of MISSED.entries()) {
      const m = (await app.api(`/conversations/101:r${i}`)).json.messages[0];
      assert.notEqual(m.intent, 'order.status');
      assert.equal((await app.api(`/messages/${m.id}/label`, { token: ann, json: { intent: 'order.status' } })).status, 200);
    }

    // Export the corrections and score them with and without them in training.
    const dir = tmpDir('retrain-files');
    const exported = path.join(dir, 'corrections.json');
    const ex = cli('export', ['--format', 'nlpjs', '--corrected-only', '--out', exported], { DATABASE_URL: app.databaseUrl });
    assert.equal(ex.status, 0, ex.stderr);
    const corpus = JSON.parse(fs.readFileSync(exported, 'utf8'));
    assert.deepEqual(corpus.data.find((d: { intent: string }) => d.intent === 'order.status').utterances.sort(), [...MISSED].sort());
    const testFile = path.join(dir, 'test.csv');
    fs.writeFileSync(testFile, `text,intent\n${MISSED.map((t) => `"${t}",order.status`).join('\n')}\n`);
    const bundled = path.join(ROOT, 'src/nlu/corpus/shop-en.json');
    const merged = path.join(dir, 'merged.json');
    const score = (corpusFile: string, out: string) => {
      const r = cli('eval', ['--corpus', corpusFile, '--test', testFile, '--json', out], {});
      assert.equal(r.status, 0, r.stderr);
      return JSON.parse(fs.readFileSync(out, 'utf8')).accuracy as number;
    };
    const base = score(bundled, path.join(dir, 'before.json'));
    fs.writeFileSync(merged, JSON.stringify({ ...JSON.parse(fs.readFileSync(bundled, 'utf8')), data: [...JSON.parse(fs.readFileSync(bundled, 'utf8')).data, ...corpus.data] }));
    const improved = score(merged, path.join(dir, 'after.json'));
    assert.ok(base < 0.5, `before: ${base}`);
    assert.equal(improved, 1, 'every corrected example is now classified right');

    // Publish from the admin API: the running worker switches without a restart.
    assert.equal((await app.api('/models/retrain', { token: ann, json: {} })).status, 403, 'an agent of one page cannot change the model of every page');
    const published = await app.api('/models/retrain', { json: {} });
    assert.equal(published.status, 201, JSON.stringify(published.json));
    assert.equal(published.json.corrections, MISSED.length);
    await waitUntil('the worker switched', () => app.nlu!.model.version === published.json.version, 15_000);
    await app.say('101', 'probe2', UNSEEN);
    const after = (await app.api('/conversations/101:probe2')).json.messages;
    assert.equal(after[0].intent, 'order.status');
    await waitUntil('the reply', async () => (await app.api('/conversations/101:probe2')).json.messages.length >= 2, 10_000);
    assert.match((await app.api('/conversations/101:probe2')).json.messages[1].text, /order number/);

    const models = (await app.api('/models')).json;
    assert.equal(models.current, published.json.version);
    assert.equal((await app.api('/models/rollback', { json: {} })).status, 409, 'nothing published before it: nothing to roll back to');
  });
});
