/**
 * The NLU a worker uses: one model at a time, swapped for a newly published one without a
 * restart. A message already being classified finishes with the model it started with; the
 * next one uses the new model. Nothing is trained here except, once at start, a model for a
 * corpus that has none yet.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from '../log';
import type { Metrics } from '../metrics';
import { BUNDLED_CORPUS, corpusHash, mergeCorpora, readCorpus } from './corpus';
import { NluModel, type Prediction } from './model';
import type { ModelStore } from './store';

export interface NluOptions {
  /** Trained model file (NLU_MODEL). */
  model?: string;
  /** Corpus files to train from at start when there is no model (NLU_CORPUS, comma separated). */
  corpus?: string;
  threshold: number;
  reloadMs: number;
  /** Where a model trained at start is cached, by corpus hash. */
  cacheDir: string;
}

export interface Understanding extends Prediction {
  ms: number;
  version: string;
}

/** The model to start with: the published one, else NLU_MODEL, else one trained (and cached) from the corpus. */
export async function initialModel(opts: NluOptions, store: ModelStore | undefined, logger: Logger): Promise<NluModel> {
  const published = await store?.currentVersion();
  if (published) {
    const file = await store!.file(published);
    if (file) {
      try {
        const m = NluModel.fromFile(file, logger);
        logger.info({ version: m.version }, 'NLU model loaded (published)');
        return m;
      } catch (err) {
        logger.error({ err, version: published }, 'published NLU model cannot be loaded: falling back to the configured one');
      }
    }
  }
  if (opts.model) {
    const m = NluModel.load(opts.model, logger);
    logger.info({ version: m.version, file: opts.model }, 'NLU model loaded (NLU_MODEL)');
    return m;
  }
  const files = opts.corpus
    ? opts.corpus
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean)
    : [BUNDLED_CORPUS];
  const corpus = mergeCorpora(files.map(readCorpus));
  const cached = path.join(opts.cacheDir, `${corpusHash(corpus)}.model.json`);
  if (fs.existsSync(cached)) {
    try {
      const m = NluModel.load(cached, logger);
      logger.info({ version: m.version, file: cached }, 'NLU model loaded (trained earlier from the same corpus)');
      return m;
    } catch (err) {
      logger.warn({ err, file: cached }, 'cached NLU model unreadable: training again');
    }
  }
  logger.info({ corpus: files }, 'no trained NLU model: training one from the corpus before taking messages (bake one with npm run train)');
  const m = await NluModel.train(corpus, { logger });
  m.save(cached);
  return m;
}

export class NluService {
  private timer?: NodeJS.Timeout;
  private failedVersion?: string;
  private checking?: Promise<void>;

  constructor(
    private current: NluModel,
    private readonly opts: Pick<NluOptions, 'threshold' | 'reloadMs'>,
    private readonly logger: Logger,
    private readonly metrics?: Metrics,
    private readonly store?: ModelStore,
  ) {}

  get model(): NluModel {
    return this.current;
  }

  async understand(text: string): Promise<Understanding> {
    const model = this.current; // held for the whole call: a swap mid-call does not mix models
    const t0 = process.hrtime.bigint();
    const p = await model.predict(text, this.opts.threshold);
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    this.metrics?.nluSeconds.observe(ms / 1000);
    this.metrics?.nluIntents.inc({ intent: p.intent });
    return { ...p, ms: Math.round(ms * 1000) / 1000, version: model.version };
  }

  /** Starts watching for published models. */
  start(): void {
    if (!this.store || this.timer) return;
    this.timer = setInterval(() => void this.check(), this.opts.reloadMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Looks for a newly published version and switches to it (also called by tests). */
  check(): Promise<void> {
    this.checking ??= this.reload().finally(() => (this.checking = undefined));
    return this.checking;
  }

  private async reload(): Promise<void> {
    let version: string | null;
    try {
      version = await this.store!.currentVersion();
    } catch (err) {
      this.logger.debug({ err }, 'NLU model check skipped: redis unavailable');
      return;
    }
    if (!version || version === this.current.version || version === this.failedVersion) return;
    try {
      const file = await this.store!.file(version);
      if (!file) throw new Error('model published without its file');
      const next = NluModel.fromFile(file, this.logger);
      const from = this.current.version;
      this.current = next;
      this.metrics?.nluReloads.inc({ result: 'ok' });
      this.logger.info({ from, to: next.version, intents: next.meta.intents.length }, 'NLU model switched to the published version');
    } catch (err) {
      this.failedVersion = version;
      this.metrics?.nluReloads.inc({ result: 'error' });
      this.logger.error({ err, version }, 'published NLU model cannot be loaded: keeping the current one');
    }
  }
}
