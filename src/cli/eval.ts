/**
 * `eval --corpus FILE… [--test FILE | --folds K] [--threshold N] [--json OUT] [--md OUT]`
 *
 * Trains a model as `npm run train` would and scores it: accuracy, macro-F1, per-intent
 * precision/recall/F1 and the confusion matrix on stdout (progress on stderr). Corpora may
 * be nlp.js JSON, CSV (text,intent), Rasa NLU YAML/JSON or the NLU evaluation corpora JSON.
 * What is scored:
 *  - `--test FILE`: every sentence of FILE (its test part, if it has a split); the model
 *    trains on the corpus (its train part, if it has one).
 *  - `--folds K`: K-fold cross-validation over every sentence of the corpus.
 *  - neither: the corpus file's own published split (train part → model, test part → score).
 * The threshold defaults to the bot's NLU_THRESHOLD. Exit codes: see ./command.ts.
 */
import fs from 'node:fs';
import path from 'node:path';
import pino from 'pino';
import { ConfigError, loadCliConfig } from '../config';
import { createLogger } from '../log';
import { CorpusError, mergeCorpora, type Corpus } from '../nlu/corpus';
import { crossValidate, evaluate, toMarkdown, type EvalResult } from '../nlu/eval';
import { readCorpusFile, type CorpusFile, type Example } from '../nlu/formats';
import { CommandError, EXIT_OK, main, numberOption, parseCommandLine, progress, UsageError, type Command } from './command';

const USAGE = `usage: ordered-chatbot eval --corpus FILE… [--test FILE | --folds K] [--threshold N] [--json OUT] [--md OUT]

  --corpus FILE…  corpora to train on: nlp.js JSON, CSV (text,intent), Rasa NLU YAML/JSON,
                  NLU evaluation corpora JSON (their "training" flag is the published split)
  --test FILE     score every sentence of FILE (its test part, if it has a split)
  --folds K       K-fold cross-validation over every sentence of the corpora
                  (neither: the corpus files' own published split)
  --threshold N   below this score the intent is None (default: NLU_THRESHOLD, 0.5)
  --json OUT      write the whole result as JSON (top-level "accuracy")
  --md OUT        write it as a Markdown report
  -h, --help      this text

Exit: 0 done, 1 failed (a corpus that cannot be read), 2 usage.`;

export interface EvalArgs {
  corpus: string[];
  test?: string;
  folds?: number;
  threshold?: number;
  json?: string;
  md?: string;
}

export function parseEvalArgs(argv: readonly string[]): EvalArgs | 'help' {
  const { values, help } = parseCommandLine(
    argv,
    {
      corpus: { type: 'string', multiple: true },
      test: { type: 'string' },
      folds: { type: 'string' },
      threshold: { type: 'string' },
      json: { type: 'string' },
      md: { type: 'string' },
    },
    ['corpus'],
  );
  if (help) return 'help';
  const a: EvalArgs = { corpus: (values.corpus as string[] | undefined) ?? [] };
  for (const k of ['test', 'json', 'md'] as const) if (values[k] !== undefined) a[k] = values[k] as string;
  const folds = numberOption(values, 'folds', 2, 1_000, true);
  const threshold = numberOption(values, 'threshold', 0, 1);
  if (folds !== undefined) a.folds = folds;
  if (threshold !== undefined) a.threshold = threshold;
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

/** "classified 40/106" on stderr while it works (./command.ts: rewritten on a terminal, every few seconds in a log). */
function counter(label: string): (done: number, total: number) => void {
  let state = [0, 0];
  const p = progress(() => `${label} ${state[0]}/${state[1]}`);
  return (done, total) => {
    state = [done, total];
    if (done === total) p.done();
    else p.tick();
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
  for (const [intent, s] of Object.entries(r.perIntent)) out.push(`${pad(intent.slice(0, w), w)}  ${s.precision.toFixed(3).padStart(9)}  ${s.recall.toFixed(3).padStart(6)}  ${s.f1.toFixed(3).padStart(5)}  ${String(s.support).padStart(7)}`);
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

async function evaluateCorpora(args: EvalArgs): Promise<number> {
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
    result = await crossValidate(corpus, args.folds, { ...opts, onProgress: counter('classified') });
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
    result = await evaluate(train, test, { ...opts, onProgress: counter('classified') });
  }
  const title = `${names}: ${mode}, threshold ${threshold}`;
  process.stdout.write(toText(result, title));
  if (args.json) write(args.json, `${JSON.stringify({ corpus: args.corpus, mode, threshold, ...result }, null, 2)}\n`);
  if (args.md) write(args.md, toMarkdown(result, title));
  return EXIT_OK;
}

async function run(argv: readonly string[]): Promise<number> {
  const args = parseEvalArgs(argv);
  if (args === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return EXIT_OK;
  }
  try {
    return await evaluateCorpora(args);
  } catch (err) {
    if (err instanceof CorpusError || err instanceof ConfigError) throw new CommandError(err.message);
    throw err;
  }
}

export const evalCommand: Command = { name: 'eval', usage: USAGE, run };

if (require.main === module) main(evalCommand);
