/**
 * Training off the event loop: a worker thread trains a model from a corpus and hands back
 * the model file. A gateway that trains on an admin's request keeps acknowledging webhooks.
 */
import path from 'node:path';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import type { Corpus } from './corpus';
import { NluModel, type ModelFile } from './model';

export function trainInThread(corpus: Corpus): Promise<ModelFile> {
  return new Promise((resolve, reject) => {
    // Built: the .js file. From source (tsx): the thread registers tsx itself (it does not inherit the loader).
    const file = path.join(__dirname, `train-thread${path.extname(__filename)}`);
    const w = path.extname(__filename) === '.ts' ? new Worker(`require('tsx/cjs/api').register(); require(${JSON.stringify(file)});`, { eval: true, workerData: corpus }) : new Worker(file, { workerData: corpus });
    w.once('message', (m: { file?: ModelFile; error?: string }) => (m.file ? resolve(m.file) : reject(new Error(m.error ?? 'training failed'))));
    w.once('error', reject);
    w.once('exit', (code) => code !== 0 && reject(new Error(`training thread exited with ${code}`)));
  });
}

if (!isMainThread && parentPort) {
  NluModel.train(workerData as Corpus).then(
    (m) => parentPort!.postMessage({ file: m.toFile() }),
    (err: Error) => parentPort!.postMessage({ error: err.message }),
  );
}
