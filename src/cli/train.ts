/**
 * `npm run train -- [--corpus FILE…] [--out FILE] [--publish] [--rollback] [--list]`
 *
 * Trains a model from one or more nlp.js corpus files (default: the bundled shop corpus)
 * and writes it as a versioned model file. `--publish` also stores it in Redis as the live
 * version: running workers switch to it within NLU_RELOAD_MS, without a restart.
 * `--rollback` makes the previously published version live again. Redis comes from
 * REDIS_URL / REDIS_CLUSTER_NODES (in dev mode: the `npm start` redis on port 6390).
 */
import path from 'node:path';
import { loadCliConfig, loadConfig, ConfigError } from '../config';
import { createLogger } from '../log';
import { BUNDLED_CORPUS, CorpusError, mergeCorpora, readCorpus } from '../nlu/corpus';
import { NluModel } from '../nlu/model';
import { ModelStore, ModelStoreError } from '../nlu/store';
import { connectRedis, remoteTarget } from '../queue/redis';

const USAGE = 'usage: npm run train -- [--corpus FILE…] [--out FILE] [--publish] | --rollback | --list';

export interface TrainArgs {
  corpus: string[];
  out?: string;
  publish: boolean;
  rollback: boolean;
  list: boolean;
}

export function parseArgs(argv: string[]): TrainArgs {
  const a: TrainArgs = { corpus: [], publish: false, rollback: false, list: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--corpus') {
      while (argv[i + 1] && !argv[i + 1]!.startsWith('--')) a.corpus.push(argv[++i]!);
      if (a.corpus.length === 0) throw new Error('--corpus needs at least one file');
    } else if (arg === '--out') {
      a.out = argv[++i];
      if (!a.out) throw new Error('--out needs a file');
    } else if (arg === '--publish') a.publish = true;
    else if (arg === '--rollback') a.rollback = true;
    else if (arg === '--list') a.list = true;
    else throw new Error(`unknown argument ${arg}`);
  }
  return a;
}

async function withStore<T>(fn: (store: ModelStore) => Promise<T>): Promise<T> {
  const config = loadConfig();
  const redis = await connectRedis(config.redis.embedded ? { url: 'redis://127.0.0.1:6390', commandTimeoutMs: 5_000 } : remoteTarget(config.redis, 5_000), () => undefined, 'cb-train');
  try {
    return await fn(new ModelStore(redis, config.redis.prefix));
  } finally {
    redis.disconnect();
  }
}

function bar(done: number, total: number): string {
  const w = 24;
  const n = Math.round((done / total) * w);
  return `[${'#'.repeat(n)}${'.'.repeat(w - n)}] ${done}/${total}`;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const logger = createLogger(loadCliConfig().logLevel);
  if (args.list) {
    const [current, history] = await withStore(async (s) => [await s.currentVersion(), await s.history()] as const);
    for (const v of history) console.log(`${v === current ? '*' : ' '} ${v}`);
    if (!history.length) console.log('no published model');
    return;
  }
  if (args.rollback) {
    const r = await withStore((s) => s.rollback());
    console.log(`rolled back: ${r.from} → ${r.to} (workers switch within NLU_RELOAD_MS)`);
    return;
  }
  const files = args.corpus.length ? args.corpus : [BUNDLED_CORPUS];
  let corpora;
  try {
    corpora = files.map((f, i) => {
      process.stderr.write(`\rreading corpora ${bar(i + 1, files.length)}`);
      return readCorpus(path.resolve(f));
    });
  } finally {
    process.stderr.write('\n');
  }
  const corpus = mergeCorpora(corpora);
  const utterances = corpus.data.reduce((n, d) => n + d.utterances.length, 0);
  process.stderr.write(`training on ${corpus.data.length} intents, ${utterances} utterances…\n`);
  const model = await NluModel.train(corpus, { logger });
  const out = path.resolve(args.out ?? path.join('models', `${model.version}.model.json`));
  model.save(out);
  console.log(`model ${model.version} (${model.meta.intents.length} intents, corpus ${model.meta.corpusHash}, ${model.meta.trainMs} ms) written to ${out}`);
  if (args.publish) {
    await withStore((s) => s.publish(model));
    console.log(`published ${model.version}: workers switch to it within NLU_RELOAD_MS`);
  }
}

if (require.main === module) {
  main().catch((err) => {
    const known = err instanceof CorpusError || err instanceof ConfigError || err instanceof ModelStoreError;
    console.error(known ? err.message : `train failed: ${(err as Error).message}\n${USAGE}`);
    process.exit(known ? 1 : 2);
  });
}
