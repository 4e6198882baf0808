/**
 * Models from the admin app: which version is live, retrain-and-publish (the configured
 * corpus plus every corrected label in the chatlog, trained in a worker thread so the
 * gateway keeps acknowledging webhooks), and rollback. Workers switch within NLU_RELOAD_MS.
 * Admins of every account only: a model serves every account.
 */
import express, { type NextFunction, type Request, type Response } from 'express';
import type { SqlClient } from '../chatlog/sql';
import type { Logger } from '../log';
import { BUNDLED_CORPUS, mergeCorpora, readCorpus, type Corpus } from '../nlu/corpus';
import { ModelStoreError, type ModelStore } from '../nlu/store';
import { trainInThread } from '../nlu/train-thread';
import { principalOf } from './auth';

export interface ModelsDeps {
  store: ModelStore;
  db?: SqlClient;
  /** NLU_CORPUS (comma separated), or the bundled corpus. */
  corpus?: string;
  logger: Logger;
}

/** Corrected labels as a corpus: one utterance per distinct text, the correction as its intent. */
export async function correctionsCorpus(db: SqlClient, locale: string): Promise<{ corpus: Corpus; examples: number }> {
  const rows = await db.query<{ text: string; intent: string }>(
    `SELECT DISTINCT ON (text) text, corrected_intent AS intent FROM messages
     WHERE direction = 'in' AND corrected_intent IS NOT NULL AND corrected_intent <> 'None' AND text IS NOT NULL AND length(trim(text)) > 0
     ORDER BY text, corrected_at DESC NULLS LAST`,
  );
  const byIntent = new Map<string, string[]>();
  for (const r of rows) byIntent.set(r.intent, [...(byIntent.get(r.intent) ?? []), r.text]);
  return { corpus: { name: 'chatlog corrections', locale, data: [...byIntent].map(([intent, utterances]) => ({ intent, utterances })) }, examples: rows.length };
}

/**
 * Express 4 does not catch a rejected async handler: the request would hang and the
 * rejection, unhandled, would end the process. Errors go to the error handler instead.
 */
const handle = (fn: (req: Request, res: Response) => Promise<unknown>) => (req: Request, res: Response, next: NextFunction) => {
  fn(req, res).catch(next);
};

export function modelsRouter(d: ModelsDeps): express.Router {
  const r = express.Router();
  let training: Promise<unknown> | undefined;
  const adminOfAll = (res: Response) => {
    const p = principalOf(res);
    if (p.role !== 'admin' || p.accounts) {
      res.status(403).json({ error: 'models serve every page: this needs an admin of every page' });
      return false;
    }
    return true;
  };

  r.get(
    '/',
    handle(async (_req, res) => {
      const [current, history] = await Promise.all([d.store.currentVersion(), d.store.history()]);
      res.json({ current, history, training: training !== undefined });
    }),
  );

  r.post(
    '/retrain',
    handle(async (_req, res) => {
      if (!adminOfAll(res)) return;
      if (training) return void res.status(409).json({ error: 'a training is already running' });
      if (!d.db) return void res.status(503).json({ error: 'the chatlog is not available to this process (set DATABASE_URL)' });
      const started = Date.now();
      const run = (async () => {
        const files = d.corpus ? d.corpus.split(',') : [BUNDLED_CORPUS];
        const base = mergeCorpora(files.map(readCorpus));
        const corrections = await correctionsCorpus(d.db!, base.locale);
        const merged = corrections.examples ? mergeCorpora([base, corrections.corpus]) : base;
        const file = await trainInThread(merged);
        await d.store.publish(file);
        return { version: file.version, intents: file.intents.length, utterances: file.utterances, corrections: corrections.examples, trainMs: Date.now() - started };
      })();
      training = run;
      try {
        const out = await run;
        d.logger.info({ ...out, by: principalOf(res).name }, 'NLU model retrained from the corpus and the corrected labels, and published');
        res.status(201).json(out);
      } catch (err) {
        d.logger.error({ err }, 'retraining failed: the live model is unchanged');
        res.status(500).json({ error: `retraining failed, the live model is unchanged: ${(err as Error).message}` });
      } finally {
        training = undefined;
      }
    }),
  );

  r.post(
    '/rollback',
    handle(async (_req, res) => {
      if (!adminOfAll(res)) return;
      try {
        const out = await d.store.rollback();
        d.logger.info({ ...out, by: principalOf(res).name }, 'NLU model rolled back');
        res.json(out);
      } catch (err) {
        if (err instanceof ModelStoreError) return void res.status(409).json({ error: err.message });
        throw err;
      }
    }),
  );
  return r;
}
