/**
 * A trained intent/entity model: nlp.js underneath, wrapped in a versioned file that also
 * carries what the dialog needs (answers, slot questions, entity rules). Training blocks
 * the event loop, so it happens in `npm run train` or once at start — never per message.
 */
import fs from 'node:fs';
import path from 'node:path';
import { containerBootstrap, type Container } from '@nlpjs/core';
import { LangEn } from '@nlpjs/lang-en';
import { Nlp, type NlpEntity } from '@nlpjs/nlp';
import type { Logger } from '../log';
import { corpusHash, type Corpus, type CorpusEntity } from './corpus';

export const NONE = 'None';
const FORMAT = 'cb-nlu-model';

export interface Entity {
  entity: string;
  /** The enum option, or the matched text for a regex entity. */
  value: string;
  /** The words of the message that matched. */
  text: string;
  start: number;
  end: number;
  type: string;
}

export interface Prediction {
  /** `None` when the best score is below the threshold. */
  intent: string;
  score: number;
  /** The three best intents, best first, whatever the threshold. */
  intents: { intent: string; score: number }[];
  entities: Entity[];
  sentiment: { score: number; vote: string };
  language: string;
}

export interface ModelFile {
  format: typeof FORMAT;
  formatVersion: 1;
  version: string;
  createdAt: string;
  corpusHash: string;
  corpusName?: string;
  locale: string;
  intents: string[];
  utterances: number;
  trainMs: number;
  /** How text was normalised before classification (absent in models from before any normalisation). */
  normalization?: Normalization[];
  entities: Record<string, CorpusEntity>;
  answers: Record<string, string[]>;
  slots: Record<string, Record<string, string>>;
  nlp: string;
}

/** `numbers`: every number is one token (see `normalize`). */
export type Normalization = 'numbers';
const NORMALIZATION: Normalization[] = ['numbers'];

export class ModelFileError extends Error {
  override readonly name = 'ModelFileError';
}

/** nlp.js logs through its container: route that to pino (debug), never to the console. */
function container(logger?: Logger): Container {
  const c = containerBootstrap();
  c.use(LangEn);
  const log =
    (level: 'debug' | 'info' | 'warn' | 'error') =>
    (...args: unknown[]) =>
      logger?.[level === 'info' ? 'debug' : level]({ nlpjs: args.map(String).join(' ') }, 'nlp.js');
  c.register('logger', { trace: log('debug'), debug: log('debug'), info: log('info'), log: log('info'), warn: log('warn'), error: log('error'), fatal: log('error') }, true);
  return c;
}

function engine(locale: string, logger?: Logger): Nlp {
  return new Nlp({ languages: [locale.slice(0, 2)], autoSave: false, autoLoad: false, nlu: { log: false }, forceNER: true, container: container(logger) });
}

const pad = (n: number) => String(n).padStart(2, '0');
export function versionOf(date: Date, hash: string): string {
  return `${date.getUTCFullYear()}${pad(date.getUTCMonth() + 1)}${pad(date.getUTCDate())}-${pad(date.getUTCHours())}${pad(date.getUTCMinutes())}${pad(date.getUTCSeconds())}-${hash.slice(0, 8)}`;
}

export class NluModel {
  private constructor(
    private readonly nlp: Nlp,
    readonly meta: Omit<ModelFile, 'nlp'>,
  ) {}

  get version(): string {
    return this.meta.version;
  }

  get lang(): string {
    return this.meta.locale.slice(0, 2);
  }

  static async train(corpus: Corpus, opts: { logger?: Logger; now?: Date } = {}): Promise<NluModel> {
    const started = Date.now();
    const lang = corpus.locale.slice(0, 2);
    const nlp = engine(corpus.locale, opts.logger);
    if (corpus.entities) nlp.addEntities(corpus.entities as Record<string, unknown>, lang);
    let utterances = 0;
    for (const it of corpus.data) for (const u of it.utterances) nlp.addDocument(lang, normalize(u, NORMALIZATION), it.intent), utterances++;
    await nlp.train();
    const hash = corpusHash(corpus);
    const now = opts.now ?? new Date();
    const model = new NluModel(nlp, {
      format: FORMAT,
      formatVersion: 1,
      version: versionOf(now, hash),
      createdAt: now.toISOString(),
      corpusHash: hash,
      ...(corpus.name ? { corpusName: corpus.name } : {}),
      locale: corpus.locale,
      intents: corpus.data.map((d) => d.intent).sort(),
      utterances,
      trainMs: Date.now() - started,
      normalization: NORMALIZATION,
      entities: corpus.entities ?? {},
      answers: Object.fromEntries(corpus.data.filter((d) => d.answers?.length).map((d) => [d.intent, d.answers!])),
      slots: Object.fromEntries(corpus.data.filter((d) => d.slotFilling).map((d) => [d.intent, d.slotFilling!])),
    });
    opts.logger?.info({ version: model.version, intents: model.meta.intents.length, utterances, trainMs: model.meta.trainMs }, 'NLU model trained');
    return model;
  }

  static fromFile(doc: unknown, logger?: Logger): NluModel {
    const m = doc as ModelFile;
    if (!m || m.format !== FORMAT || m.formatVersion !== 1 || typeof m.nlp !== 'string' || typeof m.version !== 'string')
      throw new ModelFileError(`not a model file of this project (want format "${FORMAT}" v1; train one with npm run train)`);
    const nlp = engine(m.locale, logger);
    nlp.import(m.nlp);
    // nlp.js does not serialise regex entity rules: they come back from the corpus definition.
    const regexOnly = Object.fromEntries(
      Object.entries(m.entities)
        .filter(([, e]) => e.regex)
        .map(([k, e]) => [k, { regex: e.regex }]),
    );
    nlp.addEntities(regexOnly, m.locale.slice(0, 2));
    const { nlp: _, ...meta } = m;
    return new NluModel(nlp, meta);
  }

  static load(file: string, logger?: Logger): NluModel {
    let doc: unknown;
    try {
      doc = JSON.parse(fs.readFileSync(file, 'utf8'));
    } catch (err) {
      throw new ModelFileError(`model file ${file} cannot be read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    return NluModel.fromFile(doc, logger);
  }

  toFile(): ModelFile {
    return { ...this.meta, nlp: this.nlp.export(true) };
  }

  save(file: string): void {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const tmp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify(this.toFile()));
    fs.renameSync(tmp, file); // a reader never sees half a model
  }

  /**
   * nlp.js's own `process()` runs entity extraction twice and answer, action and context
   * machinery we do not use; this is the same classification (the message, and the message
   * with its entities replaced by their names, whichever scores higher) at a fraction of the
   * cost. Product names are matched exactly, and with typo tolerance in messages of up to three words only:
   * fuzzy matching costs ~25× more and grows with the length of the message.
   */
  async predict(text: string, threshold: number): Promise<Prediction> {
    const utterance = text.slice(0, MAX_CHARS);
    const locale = this.lang;
    let { entities } = await this.nlp.ner.process({ locale, utterance, threshold: 1 });
    if (this.hasEnums && !entities.some((e) => e.type === 'enum') && utterance.split(/\s+/).length <= FUZZY_MAX_WORDS) {
      ({ entities } = await this.nlp.ner.process({ locale, utterance }));
    }
    const steps = this.meta.normalization ?? [];
    let out = await this.nlp.nluManager.process({ locale, utterance: normalize(utterance, steps), context: {}, settings: this.nlp.settings.nlu });
    const replaced = entityUtterance(utterance, entities);
    if (replaced !== utterance) {
      const alt = await this.nlp.nluManager.process({ locale, utterance: normalize(replaced, steps), context: {}, settings: this.nlp.settings.nlu });
      if (alt.score > out.score || out.intent === NONE) out = alt;
    }
    const sentiment = (await this.nlp.getSentiment(locale, utterance))?.sentiment;
    const intents = (out.classifications ?? [])
      .filter((c) => c.score > 0)
      .slice(0, 3)
      .map((c) => ({ intent: c.intent, score: round(c.score) }));
    const best = intents[0];
    const matched = best && best.intent !== NONE && best.score >= threshold;
    return {
      intent: matched ? best.intent : NONE,
      score: best?.score ?? 0,
      intents,
      entities: entities
        .filter((e) => e.entity in this.meta.entities)
        .map((e) => ({
          entity: e.entity,
          value: e.option ?? e.sourceText,
          text: e.utteranceText ?? e.sourceText,
          start: e.start,
          end: e.end,
          type: e.type,
        })),
      sentiment: { score: round(sentiment?.score ?? 0), vote: sentiment?.vote ?? 'neutral' },
      language: locale,
    };
  }

  private get hasEnums(): boolean {
    return Object.values(this.meta.entities).some((e) => e.options);
  }

  answers(intent: string): readonly string[] {
    return this.meta.answers[intent] ?? [];
  }

  slots(intent: string): Readonly<Record<string, string>> {
    return this.meta.slots[intent] ?? {};
  }
}

const round = (n: number) => Math.round(n * 10_000) / 10_000;
/** Longer messages are classified on their start: a bound on the time one message can take. */
const MAX_CHARS = 1_000;
const FUZZY_MAX_WORDS = 3;

/**
 * Text as the classifier sees it, in training and in prediction alike. `numbers`: a number
 * is a value, not a word — "upgrade to 12.04" and "upgrade to 15.10" should look alike, and
 * a number seen once in training should not pull a message towards that one intent. Digits
 * inside a word (mp3, loop0) stay as they are. Entities are found in the message as written,
 * so regex entities over digits (order numbers) are not affected. A model file records its
 * steps: one trained before them is classified as it was trained.
 */
function normalize(text: string, steps: readonly Normalization[]): string {
  return steps.includes('numbers') ? text.replace(/\b\d+\b/g, '0') : text;
}

/** The message with each entity replaced by `@name`, as nlp.js trains and classifies with `forceNER`. */
function entityUtterance(utterance: string, entities: NlpEntity[]): string {
  if (!entities.length) return utterance;
  const sorted = [...entities].sort((a, b) => a.start - b.start);
  let out = '';
  let index = 0;
  for (const e of sorted) {
    if (e.start < index) continue; // overlapping matches: the first one wins
    out += `${utterance.slice(index, e.start)}@${e.entity}`;
    index = e.end + 1;
  }
  return out + utterance.slice(index);
}
