/**
 * Reads a training corpus in any format `npm run eval` accepts into the project's `Corpus`:
 * nlp.js corpus JSON, CSV (`text,intent`), Rasa NLU YAML and JSON, and the NLU evaluation
 * corpora JSON (Braun et al. 2017), whose `training` flag carries a published train/test
 * split. Entity annotations in the examples (`[SH-123456](orderNumber)`) are stripped to
 * their text and, with Rasa's regex and lookup tables, become corpus entities.
 */
import fs from 'node:fs';
import path from 'node:path';
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Node } from 'yaml';
import { checkCorpus, CorpusError, type Corpus, type CorpusEntity } from './corpus';

export interface Example {
  text: string;
  intent: string;
}

export type CorpusFormat = 'nlpjs' | 'csv' | 'rasa-yaml' | 'rasa-json' | 'nlu-evaluation';

export interface CorpusFile {
  format: CorpusFormat;
  corpus: Corpus;
  /** The held-out part, when the file itself says which sentences are for testing. */
  test?: Example[];
}

/** An example with where it came from (for messages) and the entities marked in it. */
interface Sample extends Example {
  at: string;
  entities: { entity: string; text: string; value?: string }[];
}

export function readCorpusFile(file: string, opts: { locale?: string } = {}): CorpusFile {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new CorpusError(file, [`cannot be read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`]);
  }
  return parseCorpusText(text, file, opts);
}

/** Format by extension (.csv, .yml/.yaml, .json), else by content. */
export function parseCorpusText(raw: string, source: string, opts: { locale?: string } = {}): CorpusFile {
  const text = raw.replace(/^\uFEFF/, '');
  const ext = path.extname(source).toLowerCase();
  const head = text.trimStart();
  if (ext === '.csv' || (ext !== '.json' && /^"?(?:text|intent)"?\s*,/i.test(head))) return fromCsv(text, source, opts.locale);
  if (ext === '.yml' || ext === '.yaml' || (ext !== '.json' && !head.startsWith('{'))) return fromRasaYaml(text, source, opts.locale);
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new CorpusError(source, [`is not valid JSON: ${jsonErrorAt(text, err as Error)}`]);
  }
  const d = doc as Record<string, unknown> | null;
  if (d && typeof d === 'object' && 'rasa_nlu_data' in d) return fromRasaJson(d, source, opts.locale);
  if (d && typeof d === 'object' && Array.isArray(d.sentences)) return fromEvaluationCorpus(d, source, opts.locale);
  return { format: 'nlpjs', corpus: checkCorpus(doc, source) };
}

/** JSON.parse names a position for some errors only: the line comes from it, or from the end, or from a YAML parse (JSON is YAML). */
function jsonErrorAt(text: string, err: Error): string {
  const message = err.message.split('\n')[0]!.replace(/, (?:\.\.\.)?"[^]*$/, '');
  const pos = /position (\d+)/.exec(err.message);
  let line: number | undefined;
  if (pos) line = text.slice(0, Number(pos[1])).split('\n').length;
  else if (/end of JSON input/.test(err.message)) line = text.trimEnd().split('\n').length;
  else line = parseDocument(text, { lineCounter: new LineCounter() }).errors[0]?.linePos?.[0].line;
  return line ? `line ${line}: ${message}` : message;
}

/** RFC 4180: quoted fields may hold commas, doubled quotes and line breaks. Each row keeps the line it starts on. */
export function parseCsv(text: string, source: string): { line: number; fields: string[] }[] {
  const rows: { line: number; fields: string[] }[] = [];
  let fields: string[] = [];
  let field = '';
  let line = 1;
  let rowLine = 1;
  let quoted = false;
  let i = 0;
  const endRow = () => {
    fields.push(field);
    if (!(fields.length === 1 && fields[0] === '')) rows.push({ line: rowLine, fields }); // blank lines are skipped
    fields = [];
    field = '';
  };
  while (i < text.length) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') (field += '"'), (i += 2);
      else if (c === '"') (quoted = false), i++;
      else c === '\n' && line++, (field += c), i++;
      continue;
    }
    if (c === '"') {
      if (field.trim() !== '') throw new CorpusError(source, [`line ${line}: a quote inside an unquoted field (quote the whole field and double the quote)`]);
      field = '';
      quoted = true;
      i++;
    } else if (c === ',') fields.push(field), (field = ''), i++;
    else if (c === '\r' || c === '\n') {
      endRow();
      i += c === '\r' && text[i + 1] === '\n' ? 2 : 1;
      rowLine = ++line;
    } else (field += c), i++;
  }
  if (quoted) throw new CorpusError(source, [`line ${rowLine}: a quoted field is never closed`]);
  if (field !== '' || fields.length) endRow();
  return rows;
}

/** Undoes the export's formula neutralisation (src/chatlog/export/formats.ts): "'=x" is "=x". */
const unneutralise = (s: string): string => (/^'+[=+\-@\t\r]/.test(s) ? s.slice(1) : s);

function fromCsv(text: string, source: string, locale?: string): CorpusFile {
  const rows = parseCsv(text, source);
  const header = rows.shift();
  const names = header?.fields.map((f) => f.trim().toLowerCase()) ?? [];
  const ti = names.indexOf('text');
  const ii = names.indexOf('intent');
  if (ti < 0 || ii < 0) throw new CorpusError(source, [`line ${header?.line ?? 1}: the first line must be the header text,intent (found ${JSON.stringify(header?.fields.join(',') ?? '')})`]);
  const samples = rows.map((r) => ({ at: `line ${r.line}`, text: unneutralise(r.fields[ti] ?? ''), intent: r.fields[ii] ?? '', entities: [] }));
  return { format: 'csv', corpus: toCorpus(samples, source, { locale }) };
}

/** `[text](entity)`, `[text](entity:value)` and `[text]{"entity": …, "value": …}` → the text, with what it marked. */
export function stripAnnotations(s: string): { text: string; entities: Sample['entities'] } {
  const entities: Sample['entities'] = [];
  const text = s.replace(/\[([^\]]*)\](?:\(([^)]*)\)|(\{[^}]*\}))/g, (_all, inner: string, paren?: string, json?: string) => {
    let entity = '';
    let value: string | undefined;
    if (paren !== undefined) [entity = '', value] = paren.split(':').map((x) => x.trim());
    else {
      try {
        const o = JSON.parse(json!) as { entity?: unknown; value?: unknown };
        entity = typeof o.entity === 'string' ? o.entity : '';
        value = typeof o.value === 'string' ? o.value : undefined;
      } catch {
        return _all; // not an annotation after all: keep the text as written
      }
    }
    if (entity) entities.push({ entity, text: inner, ...(value ? { value } : {}) });
    return inner;
  });
  return { text, entities };
}

function fromRasaYaml(text: string, source: string, locale?: string): CorpusFile {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc });
  if (doc.errors.length)
    throw new CorpusError(
      source,
      doc.errors.map((e) => `line ${e.linePos?.[0].line ?? '?'}: ${e.message.split('\n')[0]}`),
    );
  const lineOf = (n: Node | null | undefined) => (n?.range ? lc.linePos(n.range[0]).line : 0);
  const nlu = isMap(doc.contents) ? doc.contents.get('nlu', true) : undefined;
  if (!isSeq(nlu)) throw new CorpusError(source, ['not a Rasa NLU file: want a top-level "nlu:" list (or a .csv / .json corpus)']);
  const samples: Sample[] = [];
  const entities: Record<string, CorpusEntity> = {};
  const synonyms = new Map<string, string>();
  const problems: string[] = [];
  for (const item of nlu.items) {
    const at = `line ${lineOf(item as Node)}`;
    if (!isMap(item)) {
      problems.push(`${at}: each nlu item must be a mapping (intent, examples)`);
      continue;
    }
    const name = item.get('intent') ?? item.get('lookup') ?? item.get('regex') ?? item.get('synonym');
    const examples = item.get('examples', true);
    const lines: { line: number; text: string }[] = [];
    if (isScalar(examples) && typeof examples.value === 'string') {
      const first = lineOf(examples) + 1; // a block scalar's text starts on the line after `|`
      examples.value.split('\n').forEach((l, i) => l.trim() && lines.push({ line: first + i, text: l.trim().replace(/^-\s*/, '') }));
    } else if (isSeq(examples)) {
      for (const e of examples.items) lines.push({ line: lineOf(e as Node), text: String(isMap(e) ? (e.get('text') ?? '') : isScalar(e) ? e.value : '').trim() });
    } else {
      problems.push(`${at}: "examples" must be a block of "- example" lines`);
      continue;
    }
    if (typeof name !== 'string' || !name.trim()) {
      problems.push(`${at}: the item needs "intent:" (or lookup:, regex:, synonym:) with a name`);
      continue;
    }
    if (item.has('intent')) for (const l of lines) samples.push({ at: `line ${l.line}`, intent: name, ...stripAnnotations(l.text) });
    else if (item.has('regex'))
      addRegex(
        entities,
        name,
        lines.map((l) => l.text),
      );
    else if (item.has('lookup'))
      addOptions(
        entities,
        name,
        lines.map((l) => [l.text, l.text]),
      );
    // synonyms map words to a value, not to an entity: the value's entity comes from annotations below.
    else for (const l of lines) synonyms.set(l.text.toLowerCase(), name);
  }
  if (problems.length) throw new CorpusError(source, problems);
  return { format: 'rasa-yaml', corpus: toCorpus(samples, source, { locale, entities, synonyms }) };
}

function fromRasaJson(d: Record<string, unknown>, source: string, locale?: string): CorpusFile {
  const data = d.rasa_nlu_data as Record<string, unknown> | null;
  if (!data || typeof data !== 'object' || !Array.isArray(data.common_examples)) throw new CorpusError(source, ['rasa_nlu_data.common_examples must be an array of {text, intent, entities}']);
  const problems: string[] = [];
  const samples: Sample[] = (data.common_examples as Record<string, unknown>[]).map((e, i) => {
    const at = `rasa_nlu_data.common_examples[${i}]`;
    if (!e || typeof e !== 'object') return (problems.push(`${at} must be an object`), { at, text: '', intent: '', entities: [] });
    const text = typeof e.text === 'string' ? e.text : '';
    const marked = Array.isArray(e.entities) ? (e.entities as Record<string, unknown>[]) : [];
    return {
      at,
      text,
      intent: typeof e.intent === 'string' ? e.intent : '',
      entities: marked
        .filter((m) => typeof m?.entity === 'string' && typeof m.start === 'number' && typeof m.end === 'number')
        .map((m) => ({
          entity: m.entity as string,
          text: text.slice(m.start as number, m.end as number),
          ...(typeof m.value === 'string' ? { value: m.value } : {}),
        })),
    };
  });
  if (problems.length) throw new CorpusError(source, problems);
  const entities: Record<string, CorpusEntity> = {};
  for (const r of Array.isArray(data.regex_features) ? (data.regex_features as { name?: unknown; pattern?: unknown }[]) : []) if (typeof r?.name === 'string' && typeof r.pattern === 'string') addRegex(entities, r.name, [r.pattern]);
  for (const t of Array.isArray(data.lookup_tables) ? (data.lookup_tables as { name?: unknown; elements?: unknown }[]) : [])
    if (typeof t?.name === 'string' && Array.isArray(t.elements))
      addOptions(
        entities,
        t.name,
        t.elements.filter((x): x is string => typeof x === 'string').map((x) => [x, x]),
      );
  return { format: 'rasa-json', corpus: toCorpus(samples, source, { locale, entities }) };
}

function fromEvaluationCorpus(d: Record<string, unknown>, source: string, locale?: string): CorpusFile {
  const problems: string[] = [];
  const train: Sample[] = [];
  const test: Example[] = [];
  (d.sentences as Record<string, unknown>[]).forEach((s, i) => {
    const at = `sentences[${i}]`;
    if (!s || typeof s !== 'object') return void problems.push(`${at} must be an object`);
    if (s.training !== undefined && typeof s.training !== 'boolean') return void problems.push(`${at}.training must be true or false`);
    const marked = Array.isArray(s.entities) ? (s.entities as Record<string, unknown>[]) : [];
    const sample: Sample = {
      at,
      text: typeof s.text === 'string' ? s.text : '',
      intent: typeof s.intent === 'string' ? s.intent : '',
      entities: marked.filter((m) => typeof m?.entity === 'string' && typeof m.text === 'string').map((m) => ({ entity: m.entity as string, text: m.text as string })),
    };
    if (s.training === false) {
      if (!sample.text.trim() || !sample.intent.trim()) problems.push(`${at} needs a non-empty "text" and "intent"`);
      else test.push({ text: sample.text, intent: sample.intent.trim() });
    } else train.push(sample);
  });
  if (problems.length) throw new CorpusError(source, problems);
  const lang = locale ?? (typeof d.lang === 'string' ? d.lang : undefined);
  const corpus = toCorpus(train, source, { locale: lang, name: typeof d.name === 'string' ? d.name : undefined });
  return { format: 'nlu-evaluation', corpus, ...(test.length ? { test } : {}) };
}

function addRegex(entities: Record<string, CorpusEntity>, name: string, patterns: string[]): void {
  const prev = [entities[name]?.regex ?? []].flat();
  entities[name] = { ...entities[name], regex: [...prev, ...patterns.map((p) => `/${p.replace(/\//g, '\\/')}/g`)] };
}

function addOptions(entities: Record<string, CorpusEntity>, name: string, pairs: [option: string, text: string][]): void {
  const options = { ...entities[name]?.options };
  for (const [o, t] of pairs) if (t.trim()) options[o] = [...new Set([...(options[o] ?? []), t.trim()])];
  entities[name] = { ...entities[name], options };
}

const MAX_INTENT = 100;

/**
 * Groups examples by intent (first-seen order, duplicates dropped) and checks them all at
 * once. Entities marked in the examples become enum entities of the values seen, unless
 * the file defines the entity itself (a regex or lookup table).
 */
function toCorpus(samples: Sample[], source: string, o: { locale?: string | undefined; name?: string | undefined; entities?: Record<string, CorpusEntity>; synonyms?: Map<string, string> }): Corpus {
  const problems: string[] = [];
  const byIntent = new Map<string, Set<string>>();
  const entities = { ...o.entities };
  const defined = new Set(Object.keys(entities));
  for (const s of samples) {
    const intent = s.intent.trim();
    if (!s.text.trim()) problems.push(`${s.at}: the text is empty`);
    if (!intent) problems.push(`${s.at}: the intent is empty`);
    else if (intent.length > MAX_INTENT) problems.push(`${s.at}: the intent name is longer than ${MAX_INTENT} characters`);
    if (!s.text.trim() || !intent) continue;
    byIntent.set(intent, (byIntent.get(intent) ?? new Set()).add(s.text.trim()));
    for (const e of s.entities) if (!defined.has(e.entity) && e.text.trim()) addOptions(entities, e.entity, [[e.value ?? o.synonyms?.get(e.text.toLowerCase()) ?? e.text, e.text]]);
  }
  if (samples.length === 0) problems.push('no examples');
  if (problems.length) throw new CorpusError(source, problems);
  const locale = o.locale ?? 'en';
  if (!/^[a-z]{2}(-[A-Za-z]{2})?$/.test(locale)) throw new CorpusError(source, [`locale ${JSON.stringify(locale)} must be a locale such as "en" or "en-US"`]);
  return {
    name: o.name ?? path.basename(source),
    locale,
    ...(Object.keys(entities).length ? { entities } : {}),
    data: [...byIntent].map(([intent, texts]) => ({ intent, utterances: [...texts] })),
  };
}
