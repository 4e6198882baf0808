/**
 * Scoring a model: train on one set of sentences, classify another, and report accuracy,
 * per-intent precision/recall/F1, macro-F1 and the confusion matrix. Also the k-fold split
 * (deterministic, stratified by intent) and a markdown rendering of a result.
 */
import crypto from 'node:crypto';
import type { Logger } from '../log';
import type { Corpus } from './corpus';
import type { Example } from './formats';
import { NluModel, NONE } from './model';

export interface IntentScore {
  precision: number;
  recall: number;
  f1: number;
  /** How many test sentences have this intent. */
  support: number;
}

/** One classified test sentence. */
export interface Outcome {
  text: string;
  intent: string;
  predicted: string;
  /** The best intent's score; when that was under the threshold, `predicted` is None and `best` names it. */
  score: number;
  best?: string;
}

export interface EvalResult {
  accuracy: number;
  macroF1: number;
  perIntent: Record<string, IntentScore>;
  /** `matrix[i][j]`: sentences of intent `labels[i]` classified as `labels[j]`. */
  confusion: { labels: string[]; matrix: number[][] };
  total: number;
  correct: number;
  /** The outcomes where the prediction was wrong. */
  misses: Outcome[];
}

export interface EvalOptions {
  /** Below this score a prediction is `None`, as in the bot (NLU_THRESHOLD). */
  threshold: number;
  logger?: Logger;
  /** Called after each classified sentence. */
  onProgress?: (done: number, total: number) => void;
}

const round = (n: number) => Math.round(n * 10_000) / 10_000;

/**
 * Metrics from (gold, predicted) pairs. Labels are every intent that occurs on either side,
 * so an intent the model predicts but the test never has counts in macro-F1 with F1 0
 * (scikit-learn's convention); an undefined ratio (nothing predicted, nothing to find) is 0.
 */
export function score(results: readonly Outcome[]): EvalResult {
  const labels = [...new Set(results.flatMap((r) => [r.intent, r.predicted]))].sort((a, b) => (a === NONE ? 1 : b === NONE ? -1 : a.localeCompare(b)));
  const index = new Map(labels.map((l, i) => [l, i]));
  const matrix = labels.map(() => labels.map(() => 0));
  for (const r of results) matrix[index.get(r.intent)!]![index.get(r.predicted)!]!++;
  const perIntent: Record<string, IntentScore> = {};
  let f1Sum = 0;
  labels.forEach((l, i) => {
    const tp = matrix[i]![i]!;
    const support = matrix[i]!.reduce((a, b) => a + b, 0);
    const predicted = matrix.reduce((a, row) => a + row[i]!, 0);
    const precision = predicted ? tp / predicted : 0;
    const recall = support ? tp / support : 0;
    const f1 = precision + recall ? (2 * precision * recall) / (precision + recall) : 0;
    f1Sum += f1;
    perIntent[l] = { precision: round(precision), recall: round(recall), f1: round(f1), support };
  });
  const correct = results.filter((r) => r.intent === r.predicted).length;
  return {
    accuracy: results.length ? round(correct / results.length) : 0,
    macroF1: labels.length ? round(f1Sum / labels.length) : 0,
    perIntent,
    confusion: { labels, matrix },
    total: results.length,
    correct,
    misses: results.filter((r) => r.intent !== r.predicted),
  };
}

/** Trains on `train` (never on `test`) and scores every test sentence. */
export async function evaluate(train: Corpus, test: readonly Example[], opts: EvalOptions): Promise<EvalResult> {
  return score(await classify(train, test, opts));
}

async function classify(train: Corpus, test: readonly Example[], opts: EvalOptions, done = 0, total = test.length): Promise<Outcome[]> {
  const model = await NluModel.train(train, opts.logger ? { logger: opts.logger } : {});
  const out: Outcome[] = [];
  for (const t of test) {
    const p = await model.predict(t.text, opts.threshold);
    const best = p.intents[0]?.intent;
    out.push({ text: t.text, intent: t.intent, predicted: p.intent, score: p.score, ...(best && best !== p.intent ? { best } : {}) });
    opts.onProgress?.(done + out.length, total);
  }
  return out;
}

export interface Fold {
  train: Corpus;
  test: Example[];
}

/**
 * K folds, stratified: each intent's sentences are dealt round the folds in a fixed
 * pseudo-random order (a hash of the text), continuing where the previous intent stopped,
 * so folds differ in size by at most one and every intent is spread evenly. A sentence
 * that occurs more than once (even under two intents) always lands in one fold, so no
 * fold is ever tested on a sentence it was trained on.
 */
export function kFolds(corpus: Corpus, k: number): Fold[] {
  const sentences = corpus.data.reduce((n, d) => n + d.utterances.length, 0);
  if (!Number.isInteger(k) || k < 2) throw new RangeError(`folds must be a whole number of at least 2 (got ${k})`);
  if (k > sentences) throw new RangeError(`${k} folds need at least ${k} sentences; the corpus has ${sentences}`);
  const key = (s: string) => s.trim().toLowerCase().replace(/\s+/g, ' ');
  const hash = (s: string) => crypto.createHash('sha1').update(s).digest('hex');
  const foldOf = new Map<string, number>();
  let next = 0;
  for (const d of [...corpus.data].sort((a, b) => a.intent.localeCompare(b.intent))) {
    const texts = [...new Set(d.utterances.map(key))].sort((a, b) => hash(a).localeCompare(hash(b)) || a.localeCompare(b));
    for (const t of texts) if (!foldOf.has(t)) foldOf.set(t, next++ % k);
  }
  return Array.from({ length: k }, (_, f) => {
    const test: Example[] = [];
    const data = corpus.data
      .map((d) => ({
        ...d,
        utterances: d.utterances.filter((u) => {
          const held = foldOf.get(key(u)) === f;
          if (held) test.push({ text: u, intent: d.intent });
          return !held;
        }),
      }))
      .filter((d) => d.utterances.length > 0);
    return { train: { ...corpus, data }, test };
  });
}

/** K-fold cross-validation: every sentence is classified once, by the model that did not see it. */
export async function crossValidate(corpus: Corpus, k: number, opts: EvalOptions): Promise<EvalResult & { folds: number[] }> {
  const folds = kFolds(corpus, k);
  const total = folds.reduce((n, f) => n + f.test.length, 0);
  const all: Outcome[] = [];
  const accuracies: number[] = [];
  for (const f of folds) {
    const r = await classify(f.train, f.test, opts, all.length, total);
    accuracies.push(round(r.filter((x) => x.intent === x.predicted).length / r.length));
    all.push(...r);
  }
  return { ...score(all), folds: accuracies };
}

const pct = (n: number) => `${(n * 100).toFixed(1)}%`;
const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

export function toMarkdown(r: EvalResult & { folds?: number[] }, title: string): string {
  const out = [`# ${cell(title)}`, '', `Accuracy **${r.accuracy.toFixed(3)}** (${r.correct} of ${r.total}), macro-F1 **${r.macroF1.toFixed(3)}**.`];
  if (r.folds) out.push('', `Per fold: ${r.folds.map((a) => a.toFixed(3)).join(', ')}.`);
  out.push('', '| intent | precision | recall | F1 | support |', '|---|---:|---:|---:|---:|');
  for (const [intent, s] of Object.entries(r.perIntent)) out.push(`| ${cell(intent)} | ${pct(s.precision)} | ${pct(s.recall)} | ${s.f1.toFixed(3)} | ${s.support} |`);
  const { labels, matrix } = r.confusion;
  out.push('', '## Confusion matrix', '', 'Rows: the right intent; columns: what the model said.', '');
  out.push(`| | ${labels.map(cell).join(' | ')} |`, `|---|${labels.map(() => '---:').join('|')}|`);
  labels.forEach((l, i) => out.push(`| **${cell(l)}** | ${matrix[i]!.map((n, j) => (i === j ? `**${n}**` : n ? String(n) : '·')).join(' | ')} |`));
  if (r.misses.length) {
    out.push('', '## Misses', '', '| sentence | intent | predicted | score (best intent, when under the threshold) |', '|---|---|---|---:|');
    for (const m of r.misses) out.push(`| ${cell(m.text)} | ${cell(m.intent)} | ${cell(m.predicted)} | ${m.best ? `${cell(m.best)} ` : ''}${m.score.toFixed(3)} |`);
  }
  return `${out.join('\n')}\n`;
}
