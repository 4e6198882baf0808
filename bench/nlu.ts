/**
 * NLU benchmark: model load time (from its file, as a worker starts) and classification
 * latency over every sentence of the bundled corpus plus longer messages, after a warm-up.
 * Baseline in the same run: nlp.js's intent classifier alone (no entities, no sentiment),
 * so the cost of the full prediction is also a ratio.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BUNDLED_CORPUS, readCorpus } from '../src/nlu/corpus';
import { NluModel } from '../src/nlu/model';

const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
const round = (n: number, d = 3) => Math.round(n * 10 ** d) / 10 ** d;

export async function nlu(_s: unknown, quick: boolean): Promise<Record<string, number>> {
  const corpus = readCorpus(BUNDLED_CORPUS);
  const t0 = Date.now();
  const trained = await NluModel.train(corpus);
  const trainMs = Date.now() - t0;
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'bench-nlu-')), 'model.json');
  trained.save(file);
  const loads: number[] = [];
  let model = trained;
  for (let i = 0; i < 5; i++) {
    const s = process.hrtime.bigint();
    model = NluModel.load(file);
    loads.push(Number(process.hrtime.bigint() - s) / 1e6);
  }
  loads.sort((a, b) => a - b);
  const sentences = corpus.data.flatMap((d) => d.utterances);
  const long = sentences.slice(0, 20).map((s, i) => `${s}, and also ${sentences[(i * 7) % sentences.length]} — thanks, my order is SH-48291${i % 10} and my email is a${i}@example.com`);
  const all = [...sentences, ...long];
  for (let i = 0; i < 500; i++) await model.predict(all[i % all.length]!, 0.5); // warm-up (JIT)
  const n = quick ? 3_000 : 20_000;
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const s = process.hrtime.bigint();
    await model.predict(all[i % all.length]!, 0.5);
    times.push(Number(process.hrtime.bigint() - s) / 1e6);
  }
  times.sort((a, b) => a - b);
  return {
    train_ms: trainMs,
    load_ms: round(pct(loads, 50), 1),
    predict_p50_ms: round(pct(times, 50)),
    predict_p99_ms: round(pct(times, 99)),
    predict_max_ms: round(times[times.length - 1]!),
    sentences: all.length,
  };
}
