/**
 * `train`: trains a model from one or more corpus files (default: the bundled shop corpus)
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
import { CommandError, EXIT_OK, main, parseCommandLine, UsageError, type Command } from './command';

const USAGE = `usage: ordered-chatbot train [--corpus FILE…] [--out FILE] [--publish]
       ordered-chatbot train --rollback | --list

  --corpus FILE…  corpus files to train from (nlp.js JSON); default: the bundled shop corpus
  --out FILE      where to write the model (default: DATA_DIR/models/<version>.model.json)
  --publish       also make it the live model in Redis: workers switch within NLU_RELOAD_MS
  --rollback      make the previously published model live again
  --list          list the published models (* = live)
  -h, --help      this text

Redis: REDIS_URL or REDIS_CLUSTER_NODES (dev mode: the redis of npm start, port 6390).
Exit: 0 done, 1 failed (bad corpus, Redis unreachable), 2 usage.`;

export interface TrainArgs {
  corpus: string[];
  out?: string;
  publish: boolean;
  rollback: boolean;
  list: boolean;
}

export function parseTrainArgs(argv: readonly string[]): TrainArgs | 'help' {
  const { values, help } = parseCommandLine(
    argv,
    {
      corpus: { type: 'string', multiple: true },
      out: { type: 'string' },
      publish: { type: 'boolean' },
      rollback: { type: 'boolean' },
      list: { type: 'boolean' },
    },
    ['corpus'],
  );
  if (help) return 'help';
  const a: TrainArgs = { corpus: (values.corpus as string[] | undefined) ?? [], publish: values.publish === true, rollback: values.rollback === true, list: values.list === true };
  if (values.out !== undefined) a.out = values.out as string;
  const training = a.corpus.length > 0 || a.out !== undefined || a.publish;
  if ([training, a.rollback, a.list].filter(Boolean).length > 1) throw new UsageError('give --list, --rollback, or what to train (--corpus, --out, --publish), one at a time');
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

async function run(argv: readonly string[]): Promise<number> {
  const args = parseTrainArgs(argv);
  if (args === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return EXIT_OK;
  }
  try {
    return await train(args);
  } catch (err) {
    if (err instanceof CorpusError || err instanceof ConfigError || err instanceof ModelStoreError) throw new CommandError(err.message);
    throw err;
  }
}

async function train(args: TrainArgs): Promise<number> {
  const env = loadCliConfig();
  const logger = createLogger(env.logLevel);
  if (args.list) {
    const [current, history] = await withStore(async (s) => [await s.currentVersion(), await s.history()] as const);
    for (const v of history) console.log(`${v === current ? '*' : ' '} ${v}`);
    if (!history.length) console.log('no published model');
    return EXIT_OK;
  }
  if (args.rollback) {
    const r = await withStore((s) => s.rollback());
    console.log(`rolled back: ${r.from} → ${r.to} (workers switch within NLU_RELOAD_MS)`);
    return EXIT_OK;
  }
  const files = args.corpus.length ? args.corpus : [BUNDLED_CORPUS];
  const corpus = mergeCorpora(files.map((f) => readCorpus(path.resolve(f))));
  const utterances = corpus.data.reduce((n, d) => n + d.utterances.length, 0);
  process.stderr.write(`training on ${corpus.data.length} intents, ${utterances} utterances from ${files.length} corpus file${files.length > 1 ? 's' : ''}…\n`);
  const model = await NluModel.train(corpus, { logger });
  const out = path.resolve(args.out ?? path.join(env.dataDir, 'models', `${model.version}.model.json`));
  model.save(out);
  console.log(`model ${model.version} (${model.meta.intents.length} intents, corpus ${model.meta.corpusHash}, ${model.meta.trainMs} ms) written to ${out}`);
  if (args.publish) {
    await withStore((s) => s.publish(model));
    console.log(`published ${model.version}: workers switch to it within NLU_RELOAD_MS`);
  }
  return EXIT_OK;
}

export const trainCommand: Command = { name: 'train', usage: USAGE, run };

if (require.main === module) main(trainCommand);
