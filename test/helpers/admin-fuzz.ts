/**
 * Inputs for fuzzing the admin API (test/integration/admin-fuzz.test.ts): query strings and
 * bodies per route, mostly near what the route takes (so its handler runs and its edges get
 * poked), sometimes anything — repeated or bracketed names, odd values, broken JSON, other
 * content types, huge bodies.
 */
import fc from 'fast-check';

const ODD = [
  '',
  ' ',
  '101',
  '102',
  '*',
  '0',
  '-1',
  '1e309',
  'NaN',
  'null',
  '__proto__',
  'constructor',
  'toString',
  '2020-01-01',
  '9999-12-31T23:59:59Z',
  '0000-00-00',
  '%',
  '%zz',
  '%00',
  '\u0000',
  "'; DROP TABLE messages; --",
  '101:u101a',
  '102:u102a',
  'true',
  'false',
  '[]',
  '{}',
  'csv',
  'jsonl',
  'nlpjs',
  'rasa',
  'all',
  'out',
  'human',
  'bot',
  'secret102.intent',
  'eyJpZCI6IjEifQ',
  '\uD800',
  'ä ö 🙂',
  '\\',
  '_',
  '%_%',
];
export const odd = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...ODD) },
  { weight: 3, arbitrary: fc.string({ maxLength: 40 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 20 }) },
  { weight: 1, arbitrary: fc.oneof(fc.integer(), fc.double(), fc.bigInt()).map(String) },
  { weight: 1, arbitrary: fc.string({ minLength: 1_000, maxLength: 3_000 }) },
);
/** Every UTF-8 byte percent-encoded (a lone surrogate too, which encodeURIComponent refuses); or raw but for the URL's own delimiters. */
export const enc = (s: string, raw = false) => (raw ? s.replace(/[#?&=%\s]/g, (c) => `%${c.charCodeAt(0).toString(16).padStart(2, '0')}`) : [...Buffer.from(s)].map((b) => `%${b.toString(16).padStart(2, '0')}`).join(''));
const join = (pairs: { name: string; form?: string; value: string; raw?: boolean }[]) => pairs.map((p) => `${enc(p.name)}${p.form ?? ''}=${enc(p.value, p.raw)}`).join('&');

/** Mostly values a route takes, some near misses, a few odd ones: the handlers run, their edges get poked. */
const near = (valid: fc.Arbitrary<string>, misses: fc.Arbitrary<string>) => fc.oneof({ weight: 6, arbitrary: valid }, { weight: 2, arbitrary: misses }, { weight: 1, arbitrary: odd });
const date = near(
  fc.date({ min: new Date('1900-01-01'), max: new Date('2200-01-01'), noInvalidDate: true }).map((d) => d.toISOString()),
  fc.constantFrom('2020-02-30', 'yesterday', '2020-01-01T25:00', '2020-01-01T00:00:00+99:00', '99999-01-01', '-000001-01-01T00:00:00Z', '2020-13-01'),
);
const flag = near(fc.constantFrom('', 'true', 'false', '1', '0'), fc.constantFrom('yes', 'maybe', 'TRUE'));
const score = near(fc.double({ min: 0, max: 1, noNaN: true }).map(String), fc.constantFrom('-1', '2', '1e309', 'NaN', '0x1'));
const PLAUSIBLE: Record<string, fc.Arbitrary<string>> = {
  q: near(fc.constantFrom('hello', 'order', 'ZEBRA102', '%', '_', '\\', 'a:b', '(', '&', '!', ''), fc.string({ maxLength: 30 })),
  page: near(fc.constantFrom('101', '102'), fc.constantFrom('999', '101,102', '*', '')),
  account: near(fc.constantFrom('messenger:101', 'messenger:102'), fc.constantFrom('whatsapp:101', 'messenger', ':101', 'messenger:101,messenger:102', '*', '')),
  channel: near(fc.constantFrom('messenger', 'whatsapp', 'line'), fc.constantFrom('Messenger', '', 'x y', 'messenger,line')),
  status: near(fc.constantFrom('bot', 'human'), fc.constantFrom('robot', 'HUMAN', '')),
  intent: near(fc.constantFrom('order.status', 'secret102.intent', 'None', 'greetings.hello'), fc.constantFrom('a,b', 'bad name!', 'x'.repeat(65))),
  lowConfidence: flag,
  from: date,
  to: date,
  cursor: near(
    fc.constant(''),
    fc.oneof(
      fc.base64String({ maxLength: 60 }),
      fc.json().map((j) => Buffer.from(j).toString('base64url')),
    ),
  ),
  limit: near(fc.integer({ min: 1, max: 200 }).map(String), fc.constantFrom('0', '201', '-1', '1.5', '1e2')),
  format: near(fc.constantFrom('csv', 'jsonl', 'nlpjs', 'rasa'), fc.constantFrom('pdf', '', 'CSV')),
  'min-score': score,
  'max-score': score,
  'corrected-only': flag,
  dedupe: flag,
  'raw-ids': flag,
  redact: flag,
  direction: near(fc.constantFrom('in', 'out', 'all'), fc.constantFrom('sideways', '')),
};
/** The parameters each route reads. */
const READS: Record<string, string[]> = {
  'GET /conversations': ['q', 'page', 'account', 'channel', 'status', 'intent', 'lowConfidence', 'from', 'to', 'cursor', 'limit'],
  'GET /stats': ['from', 'to', 'page', 'account', 'channel'],
  'GET /kpis': ['from', 'to', 'account'],
  'GET /canned': ['account'],
  'GET /export': ['from', 'to', 'page', 'page', 'account', 'channel', 'min-score', 'max-score', 'corrected-only', 'intent', 'intent', 'direction', 'dedupe', 'raw-ids', 'redact'],
};
/** Repeated names, name[] and name[key], names no route reads, raw or encoded values. */
const wildQuery = fc
  .array(
    fc.record({
      name: fc.oneof(fc.constantFrom(...Object.keys(PLAUSIBLE), 'id', 'user'), fc.string({ minLength: 1, maxLength: 12 })),
      form: fc.constantFrom('', '', '[]', '[x]', '[0]', '[__proto__]', '[a][b]'),
      value: odd,
      raw: fc.boolean(),
    }),
    { maxLength: 6 },
  )
  .map(join);
/** Mostly the route's own parameters with values near what they take (so the handlers run), sometimes anything. */
export const queryFor = (route: string) => {
  const names = READS[route] ?? [];
  // The export needs a format: it comes first, as a client would send it.
  const required = route === 'GET /export' ? ['format'] : [];
  const plausible = names.length
    ? fc
        .subarray(names, { maxLength: Math.min(4, names.length) })
        .chain((ns) => fc.tuple(...[...required, ...ns].map((n) => PLAUSIBLE[n]!.map((value) => ({ name: n, value })))))
        .map(join)
    : fc.constant('');
  return fc.oneof({ weight: 4, arbitrary: plausible }, { weight: 1, arbitrary: wildQuery });
};

const bodyValue = fc.oneof(odd, fc.jsonValue({ maxDepth: 2 }), fc.constant(null));
const text = near(fc.string({ minLength: 1, maxLength: 200 }), fc.constantFrom('', '   ', 'x'.repeat(2_001), 'x'.repeat(5_001))) as fc.Arbitrary<unknown>;
const clientId = near(fc.stringMatching(/^[A-Za-z0-9_.:-]{1,100}$/), fc.constantFrom('', 'a b', 'x'.repeat(101))) as fc.Arbitrary<unknown>;
const agentName = near(fc.constant('ann'), fc.constantFrom('vic', 'root', 'bob', 'admin')) as fc.Arbitrary<unknown>;
/** The body each route reads, with values near what it takes. */
const BODIES: Record<string, fc.Arbitrary<unknown>> = {
  'POST /conversations/:id/notes': fc.record({ text }),
  'POST /conversations/:id/reply': fc.record({ text, id: clientId, agent: agentName }, { requiredKeys: ['text'] }),
  'POST /conversations/:id/takeover': fc.record({ id: clientId, agent: agentName }, { requiredKeys: [] }),
  'POST /conversations/:id/release': fc.record({ id: clientId, agent: agentName }, { requiredKeys: [] }),
  'POST /conversations/:id/forget': fc.record({ id: clientId }, { requiredKeys: [] }),
  'POST /messages/:mid/label': fc.oneof(
    fc.record({ intent: near(fc.constantFrom('order.status', 'None', 'shipping.time'), fc.constantFrom('secret102.intent', 'x'.repeat(65), 'a b')) }),
    fc.record({ correct: fc.oneof({ weight: 4, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: bodyValue }) }),
  ),
  'POST /inbox/presence': fc.record({ status: near(fc.constantFrom('online', 'away'), fc.constantFrom('offline', 'ONLINE', '')) }),
  'POST /conversations/:id/assign': fc.record({ agent: agentName }),
  'POST /conversations/:id/snooze': fc.oneof(
    fc.record({ minutes: fc.oneof({ weight: 6, arbitrary: fc.integer({ min: 1, max: 600 }) }, { weight: 2, arbitrary: fc.constantFrom(0, -5, 1.5, 1e9) }, { weight: 1, arbitrary: odd }) as fc.Arbitrary<unknown> }),
    fc.record({
      until: near(
        fc.date({ min: new Date(Date.now() + 3_600_000), max: new Date(Date.now() + 86_400_000), noInvalidDate: true }).map((d) => d.toISOString()),
        fc.constantFrom('2000-01-01T00:00:00Z', 'soon', '9999-01-01'),
      ) as fc.Arbitrary<unknown>,
    }),
  ),
  'POST /canned': fc.record({ account: near(fc.constantFrom('messenger:101', 'messenger:102'), fc.constantFrom('whatsapp:101', '101', '')) as fc.Arbitrary<unknown>, title: text, text }),
  'POST /session': fc.record({ user: fc.oneof(fc.constantFrom('ann', 'root', 'nobody'), bodyValue), password: bodyValue, token: bodyValue }, { requiredKeys: [] }),
};
const anyObject = fc.record({ text: bodyValue, intent: bodyValue, correct: bodyValue, agent: bodyValue, id: bodyValue, user: bodyValue, password: bodyValue, token: bodyValue }, { requiredKeys: [] });
/** Raw bytes under some content type (or none): broken JSON, other types, charsets body-parser refuses, huge bodies. */
const wildBody = fc.oneof(
  fc.record({ type: fc.constant('application/json'), data: fc.oneof(anyObject, fc.jsonValue({ maxDepth: 3 })).map((v) => JSON.stringify(v) ?? 'null') }),
  fc.record({
    type: fc.constantFrom('application/json', 'text/plain', 'application/x-www-form-urlencoded', 'application/json; charset=utf-16', 'application/json; charset=latin1', 'multipart/form-data; boundary=x', 'application/octet-stream', ''),
    data: fc.oneof(
      fc.string({ maxLength: 200 }),
      fc.constantFrom(
        '{',
        '{"text":',
        'null',
        '[]',
        '"str"',
        '1',
        '\uFEFF{}',
        'text=hi&agent=root',
        '{"text":"a","text":"b"}',
        '{"__proto__":{"role":"admin","pages":null},"text":"x"}',
        '{"constructor":{"prototype":{"pages":null}}}',
        `{"text":"${'y'.repeat(70_000)}"}`,
      ),
    ),
  }),
  fc.constant(undefined),
);
/** An upload: bytes under a content type an agent may attach, or one it may not. */
const upload = fc.record({
  type: fc.constantFrom('image/png', 'application/pdf', 'text/plain', 'text/html', 'application/x-msdownload', 'image/svg+xml'),
  data: fc.string({ minLength: 1, maxLength: 300 }),
});
export const bodyFor = (route: string) => {
  if (route === 'POST /conversations/:id/attachments') return fc.oneof({ weight: 3, arbitrary: upload }, { weight: 1, arbitrary: wildBody });
  const own = BODIES[route];
  const plausible = own ? own.map((v) => ({ type: 'application/json', data: JSON.stringify(v) })) : fc.constant(undefined);
  return fc.oneof({ weight: 3, arbitrary: plausible }, { weight: 1, arbitrary: wildBody });
};
