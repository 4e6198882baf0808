/**
 * Training corpora in nlp.js corpus format: reading and checking them (every problem at
 * once, with its path), merging several into one, hashing, and the deterministic held-out
 * split the accuracy test uses.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

export interface CorpusEntity {
  /** One or more `/pattern/flags` strings. */
  regex?: string | string[];
  /** Enum entity: option name → the words that mean it. */
  options?: Record<string, string[]>;
}

export interface CorpusIntent {
  intent: string;
  utterances: string[];
  answers?: string[];
  /** Entities the intent needs, with the question that asks for a missing one (nlp.js `slotFilling`). */
  slotFilling?: Record<string, string>;
}

export interface Corpus {
  name?: string;
  locale: string;
  entities?: Record<string, CorpusEntity>;
  data: CorpusIntent[];
}

export class CorpusError extends Error {
  override readonly name = 'CorpusError';
  constructor(
    readonly source: string,
    readonly problems: readonly string[],
  ) {
    super(`${source} is not a usable corpus:\n  - ${problems.slice(0, 20).join('\n  - ')}${problems.length > 20 ? `\n  - …and ${problems.length - 20} more` : ''}`);
  }
}

export const BUNDLED_CORPUS = path.join(__dirname, 'corpus', 'shop-en.json');
const INTENT_NAME = /^[A-Za-z0-9_.-]{1,64}$/;

/** `/pattern/flags` → RegExp, or the reason it is not one. */
export function parseRegex(s: string): RegExp | string {
  const m = /^\/(.+)\/([a-z]*)$/s.exec(s);
  if (!m) return `${JSON.stringify(s)} must be written /pattern/flags`;
  try {
    return new RegExp(m[1]!, m[2]);
  } catch (err) {
    return (err as Error).message;
  }
}

const isStrings = (v: unknown): v is string[] => Array.isArray(v) && v.every((s) => typeof s === 'string' && s.trim() !== '');

/** Checks a parsed corpus document; answers strings or `{answer}` objects are both accepted. */
export function checkCorpus(doc: unknown, source: string): Corpus {
  const p: string[] = [];
  const d = doc as Record<string, unknown>;
  if (!d || typeof d !== 'object' || Array.isArray(d)) throw new CorpusError(source, ['the document must be a JSON object with "locale" and "data"']);
  if (typeof d.locale !== 'string' || !/^[a-z]{2}(-[A-Za-z]{2})?$/.test(d.locale)) p.push('"locale" must be a locale such as "en" or "en-US"');
  const entities: Record<string, CorpusEntity> = {};
  if (d.entities !== undefined) {
    if (typeof d.entities !== 'object' || d.entities === null || Array.isArray(d.entities)) p.push('"entities" must be an object');
    else
      for (const [name, raw] of Object.entries(d.entities as Record<string, unknown>)) {
        const e = (typeof raw === 'string' ? { regex: raw } : raw) as Record<string, unknown>;
        const at = `entities.${name}`;
        if (!e || typeof e !== 'object') {
          p.push(`${at} must be an object with "regex" or "options"`);
          continue;
        }
        const out: CorpusEntity = {};
        if (e.regex !== undefined) {
          const list = Array.isArray(e.regex) ? e.regex : [e.regex];
          list.forEach((r, i) => {
            const re = typeof r === 'string' ? parseRegex(r) : 'must be a string';
            if (typeof re === 'string') p.push(`${at}.regex${Array.isArray(e.regex) ? `[${i}]` : ''}: ${re}`);
          });
          out.regex = e.regex as string | string[];
        }
        if (e.options !== undefined) {
          if (typeof e.options !== 'object' || e.options === null) p.push(`${at}.options must be an object of option → words`);
          else for (const [opt, words] of Object.entries(e.options as Record<string, unknown>)) if (!isStrings(words) || words.length === 0) p.push(`${at}.options.${opt} must be a non-empty array of words`);
          out.options = e.options as Record<string, string[]>;
        }
        if (out.regex === undefined && out.options === undefined) p.push(`${at} needs "regex" or "options"`);
        entities[name] = out;
      }
  }
  const data: CorpusIntent[] = [];
  if (!Array.isArray(d.data) || d.data.length === 0) p.push('"data" must be a non-empty array of intents');
  else
    d.data.forEach((raw: Record<string, unknown>, i) => {
      const at = `data[${i}]`;
      if (!raw || typeof raw !== 'object') return void p.push(`${at} must be an object`);
      if (typeof raw.intent !== 'string' || !INTENT_NAME.test(raw.intent)) p.push(`${at}.intent must be a name of letters, digits, _ . or -`);
      if (!isStrings(raw.utterances) || raw.utterances.length === 0) p.push(`${at}.utterances must be a non-empty array of non-empty strings`);
      const answers = raw.answers === undefined ? [] : Array.isArray(raw.answers) ? raw.answers.map((a) => (typeof a === 'string' ? a : (a as { answer?: unknown })?.answer)) : [null];
      if (!isStrings(answers)) p.push(`${at}.answers must be an array of strings (or {"answer": …} objects)`);
      const slots: Record<string, string> = {};
      if (raw.slotFilling !== undefined) {
        for (const [entity, q] of Object.entries(raw.slotFilling as Record<string, unknown>)) {
          const question = typeof q === 'string' ? q : (q as { question?: unknown })?.question;
          if (typeof question !== 'string' || !question.trim()) p.push(`${at}.slotFilling.${entity} must be the question to ask`);
          else slots[entity] = question;
        }
      }
      data.push({
        intent: String(raw.intent),
        utterances: (raw.utterances as string[]) ?? [],
        ...(answers.length ? { answers: answers as string[] } : {}),
        ...(Object.keys(slots).length ? { slotFilling: slots } : {}),
      });
    });
  if (p.length) throw new CorpusError(source, p);
  return { ...(typeof d.name === 'string' ? { name: d.name } : {}), locale: String(d.locale), ...(Object.keys(entities).length ? { entities } : {}), data };
}

export function readCorpus(file: string): Corpus {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new CorpusError(file, [`cannot be read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`]);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new CorpusError(file, [`is not valid JSON: ${(err as Error).message}`]);
  }
  return checkCorpus(doc, file);
}

const union = (a: string[] = [], b: string[] = []) => [...new Set([...a, ...b])];

/** Merges corpora of one locale: an intent's utterances and answers are unioned, entities combined. */
export function mergeCorpora(corpora: readonly Corpus[]): Corpus {
  if (corpora.length === 0) throw new CorpusError('merge', ['no corpus given']);
  if (corpora.length === 1) return corpora[0]!;
  const lang = (l: string) => l.slice(0, 2);
  const locale = corpora[0]!.locale;
  const byIntent = new Map<string, CorpusIntent>();
  const entities: Record<string, CorpusEntity> = {};
  for (const c of corpora) {
    if (lang(c.locale) !== lang(locale)) throw new CorpusError(c.name ?? 'corpus', [`locale ${c.locale} differs from ${locale}: train one model per language`]);
    for (const it of c.data) {
      const prev = byIntent.get(it.intent);
      byIntent.set(
        it.intent,
        prev
          ? {
              intent: it.intent,
              utterances: union(prev.utterances, it.utterances),
              ...(prev.answers || it.answers ? { answers: union(prev.answers, it.answers) } : {}),
              ...(prev.slotFilling || it.slotFilling ? { slotFilling: { ...prev.slotFilling, ...it.slotFilling } } : {}),
            }
          : { ...it },
      );
    }
    for (const [name, e] of Object.entries(c.entities ?? {})) {
      const prev = entities[name] ?? {};
      const regex = union([prev.regex ?? []].flat(), [e.regex ?? []].flat());
      const options = { ...prev.options };
      for (const [o, words] of Object.entries(e.options ?? {})) options[o] = union(options[o], words);
      entities[name] = { ...(regex.length ? { regex } : {}), ...(Object.keys(options).length ? { options } : {}) };
    }
  }
  return { name: corpora.map((c) => c.name ?? 'corpus').join(' + '), locale, ...(Object.keys(entities).length ? { entities } : {}), data: [...byIntent.values()] };
}

/** A stable fingerprint of what a model learns from (order of keys and intents does not matter). */
export function corpusHash(c: Corpus): string {
  const canon = (v: unknown): unknown =>
    Array.isArray(v)
      ? v.map(canon)
      : v && typeof v === 'object'
        ? Object.fromEntries(
            Object.keys(v)
              .sort()
              .map((k) => [k, canon((v as Record<string, unknown>)[k])]),
          )
        : v;
  const data = [...c.data].sort((a, b) => a.intent.localeCompare(b.intent));
  // `"regex": "/x/"` and `"regex": ["/x/"]` are the same rule.
  const entities = Object.fromEntries(Object.entries(c.entities ?? {}).map(([k, e]) => [k, { ...e, ...(e.regex !== undefined ? { regex: [e.regex].flat() } : {}) }]));
  return crypto
    .createHash('sha256')
    .update(JSON.stringify(canon({ locale: c.locale, entities, data })))
    .digest('hex')
    .slice(0, 12);
}

/**
 * Splits each intent's utterances by position: `heldOut(i)` decides which go to the test
 * side. Deterministic, so a test's accuracy figure is reproducible.
 */
export function splitCorpus(c: Corpus, heldOut: (index: number) => boolean): { train: Corpus; test: { text: string; intent: string }[] } {
  const test: { text: string; intent: string }[] = [];
  const data = c.data.map((it) => {
    const keep: string[] = [];
    it.utterances.forEach((u, i) => (heldOut(i) ? test.push({ text: u, intent: it.intent }) : keep.push(u)));
    return { ...it, utterances: keep };
  });
  return { train: { ...c, data }, test };
}
