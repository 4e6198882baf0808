/**
 * `npm run eval -- --corpus FILE… [--test FILE | --folds K] [--threshold N] [--json OUT] [--md OUT]`
 *
 * Trains a model as `npm run train` would and scores it: accuracy, macro-F1, per-intent
 * precision/recall/F1 and the confusion matrix on stdout (progress on stderr). Corpora may
 * be nlp.js JSON, CSV (text,intent), Rasa NLU YAML/JSON or the NLU evaluation corpora JSON.
 * What is scored:
 *  - `--test FILE`: every sentence of FILE (its test part, if it has a split); the model
 *    trains on the corpus (its train part, if it has one).
 *  - `--folds K`: K-fold cross-validation over every sentence of the corpus.
 *  - neither: the corpus file's own published split (train part → model, test part → score).
 * The threshold defaults to the bot's NLU_THRESHOLD. Exit 0 on success, 1 on a bad corpus,
 * 2 on a usage error.
 */
import fs from 'node:fs';
import path from 'node:path';
import pino from 'pino';
import { ConfigError, loadCliConfig } from '../config';
import { createLogger } from '../log';
import { CorpusError, mergeCorpora, type Corpus } from '../nlu/corpus';
import { crossValidate, evaluate, toMarkdown, type EvalResult } from '../nlu/eval';
import { readCorpusFile, type CorpusFile, type Example } from '../nlu/formats';

const USAGE = 'usage: npm run eval -- --corpus FILE… [--test FILE | --folds K] [--threshold N] [--json OUT] [--md OUT]';

class UsageError extends Error {
  override readonly name = 'UsageError';
}

export interface EvalArgs {
  corpus: string[];
  test?: string;
  folds?: number;
  threshold?: number;
  json?: string;
  md?: string;
}

export function parseArgs(argv: string[]): EvalArgs {
  const a: EvalArgs = { corpus: [] };
  const value = (i: number, flag: string, what: string) => {
    const v = argv[i + 1];
    if (v === undefined || v.startsWith('--')) throw new UsageError(`${flag} needs ${what}`);
    return v;
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--corpus') {
      while (argv[i + 1] !== undefined && !argv[i + 1]!.startsWith('--')) a.corpus.push(argv[++i]!);
      if (a.corpus.length === 0) throw new UsageError('--corpus needs at least one file');
    } else if (arg === '--test') a.test = value(i++, arg, 'a file');
    else if (arg === '--json') a.json = value(i++, arg, 'a file to write');
    else if (arg === '--md') a.md = value(i++, arg, 'a file to write');
    else if (arg === '--folds') {
      const k = Number(value(i++, arg, 'a number'));
      if (!Number.isInteger(k) || k < 2) throw new UsageError(`--folds needs a whole number of at least 2 (got ${argv[i]})`);
      a.folds = k;
    } else if (arg === '--threshold') {
      const t = Number(value(i++, arg, 'a number'));
      if (!(t >= 0 && t <= 1)) throw new UsageError(`--threshold needs a number from 0 to 1 (got ${argv[i]})`);
      a.threshold = t;
    } else throw new UsageError(`unknown argument ${arg}`);
  }
  if (a.corpus.length === 0) throw new UsageError('--corpus FILE is required');
  if (a.test !== undefined && a.folds !== undefined) throw new UsageError('give --test or --folds, not both');
  return a;
}

/** The corpus with its test sentences added back: cross-validation folds every sentence. */
function whole(f: CorpusFile): Corpus {
  const data = f.corpus.data.map((d) => ({ ...d, utterances: [...d.utterances] }));
  for (const t of f.test ?? []) {
    const d = data.find((x) => x.intent === t.intent);
    if (d) d.utterances.push(t.text);
    else data.push({ intent: t.intent, utterances: [t.text] });
  }
  return { ...f.corpus, data };
}

/** A counter that rewrites itself on a terminal; elsewhere (a log, a pipe) only the last count. */
function progress(label: string): (done: number, total: number) => void {
  const tty = process.stderr.isTTY;
  return (done, total) => {
    if (done === total) process.stderr.write(`${tty ? '\r' : ''}${label} ${done}/${total}\n`);
    else if (tty) process.stderr.write(`\r${label} ${done}/${total}`);
  };
}

function pad(s: string, n: number): string {
  return s.length >= n ? s : s + ' '.repeat(n - s.length);
}

function toText(r: EvalResult & { folds?: number[] }, title: string): string {
  const out = [title, `accuracy ${r.accuracy.toFixed(3)} (${r.correct} of ${r.total})   macro-F1 ${r.macroF1.toFixed(3)}`];
  if (r.folds) out.push(`per fold: ${r.folds.map((a) => a.toFixed(3)).join(' ')}`);
  const w = Math.min(40, Math.max(6, ...r.confusion.labels.map((l) => l.length)));
  out.push('', `${pad('intent', w)}  precision  recall     F1  support`);
  for (const [intent, s] of Object.entries(r.perIntent))
    out.push(`${pad(intent.slice(0, w), w)}  ${s.precision.toFixed(3).padStart(9)}  ${s.recall.toFixed(3).padStart(6)}  ${s.f1.toFixed(3).padStart(5)}  ${String(s.support).padStart(7)}`);
  const { labels, matrix } = r.confusion;
  const cw = Math.max(3, ...matrix.flat().map((n) => String(n).length + 1));
  out.push('', 'confusion matrix (rows: the right intent, columns: what the model said, by number)');
  out.push(`${pad('', w + 5)}${labels.map((_, j) => String(j + 1).padStart(cw)).join('')}`);
  labels.forEach((l, i) => out.push(`${String(i + 1).padStart(3)}. ${pad(l.slice(0, w), w)}${matrix[i]!.map((n) => (n ? String(n) : '.').padStart(cw)).join('')}`));
  const shown = r.misses.slice(0, 20);
  if (shown.length) out.push('', `misses${r.misses.length > shown.length ? ` (first ${shown.length} of ${r.misses.length}; all in --json / --md)` : ''}:`);
  for (const m of shown) out.push(`  ${JSON.stringify(m.text)}: ${m.intent} → ${m.predicted} (${m.best ? `best ${m.best} ` : ''}${m.score.toFixed(3)})`);
  return `${out.join('\n')}\n`;
}

function write(file: string, text: string): void {
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  fs.writeFileSync(file, text);
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const env = loadCliConfig();
  const threshold = args.threshold ?? env.nluThreshold;
  const logger = createLogger(env.logLevel, pino.destination(2));
  const files = args.corpus.map((f) => readCorpusFile(f));
  const names = args.corpus.map((f) => path.basename(f)).join(' + ');
  const opts = { threshold, logger };
  let result: EvalResult & { folds?: number[] };
  let mode: string;
  if (args.folds !== undefined) {
    const corpus = mergeCorpora(files.map(whole));
    const n = corpus.data.reduce((s, d) => s + d.utterances.length, 0);
    if (n < args.folds) throw new UsageError(`${args.folds} folds need at least ${args.folds} sentences; ${names} has ${n}`);
    mode = `${args.folds}-fold cross-validation over ${n} sentences`;
    process.stderr.write(`${mode}…\n`);
    result = await crossValidate(corpus, args.folds, { ...opts, onProgress: progress('classified') });
  } else {
    let test: Example[];
    if (args.test !== undefined) {
      const t = readCorpusFile(args.test);
      test = t.test ?? t.corpus.data.flatMap((d) => d.utterances.map((text) => ({ text, intent: d.intent })));
      mode = `test set ${path.basename(args.test)}`;
    } else {
      const unsplit = args.corpus.filter((_, i) => !files[i]!.test);
      if (unsplit.length) throw new UsageError(`${unsplit.join(', ')} has no test split (no "training": false sentences): give --test FILE or --folds K`);
      test = files.flatMap((f) => f.test!);
      mode = 'published split';
    }
    const train = mergeCorpora(files.map((f) => f.corpus));
    const n = train.data.reduce((s, d) => s + d.utterances.length, 0);
    mode += ` (${n} sentences to train, ${test.length} to score)`;
    process.stderr.write(`training on ${train.data.length} intents, ${n} sentences; scoring ${test.length}…\n`);
    result = await evaluate(train, test, { ...opts, onProgress: progress('classified') });
  }
  const title = `${names}: ${mode}, threshold ${threshold}`;
  process.stdout.write(toText(result, title));
  if (args.json) write(args.json, `${JSON.stringify({ corpus: args.corpus, mode, threshold, ...result }, null, 2)}\n`);
  if (args.md) write(args.md, toMarkdown(result, title));
}

if (require.main === module) {
  main().catch((err) => {
    if (err instanceof UsageError) console.error(`${err.message}\n${USAGE}`);
    else if (err instanceof CorpusError || err instanceof ConfigError) console.error(err.message);
    else console.error(`eval failed: ${(err as Error).stack ?? String(err)}`);
    process.exit(err instanceof UsageError ? 2 : 1);
  });
}
