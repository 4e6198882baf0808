/**
 * The admin API described for its clients: an OpenAPI 3.1 document, served without a token
 * (it holds no secret) at `GET /admin/api/openapi.json`. Each operation is one row of OPS,
 * keyed as the router declares it (`POST /conversations/:id/claim`); `operation()` adds what
 * rows share — path parameters, the bearer token, the errors every signed-in route can
 * answer. test/unit/openapi.test.ts holds OPS to the router both ways: a route added
 * without a row (or a row without a route) fails it.
 */
import { EXPORT_FORMATS } from '../chatlog/export';
import { FILE_TYPES } from '../inbox/files';
import { STATUSES } from '../inbox/state';

type Schema = Record<string, unknown>;
type ErrorStatus = 400 | 401 | 403 | 404 | 409 | 413 | 415 | 429 | 500 | 503;

interface Op {
  summary: string;
  description?: string;
  tag: 'session' | 'conversations' | 'agent actions' | 'inbox' | 'tools' | 'chatlog' | 'models';
  /** Who may call it beyond any signed-in user (a viewer): adds the 403. */
  role?: 'agent' | 'admin' | 'admin of every account';
  query?: Record<string, Schema>;
  /** A JSON request body (adds 400 and 413); optional when nothing in it is required. */
  body?: Schema;
  /** A raw request body: a file's bytes under one of these content types (adds 413). */
  raw?: readonly string[];
  ok: { status: 200 | 201 | 202 | 204; description: string; content?: Record<string, unknown> };
  /** Errors of this route beyond those `operation()` adds. */
  errors?: ErrorStatus[];
  /** No bearer token (sign-in, this document). */
  public?: true;
}

const str = (description?: string, extra: Schema = {}): Schema => ({ type: 'string', ...(description ? { description } : {}), ...extra });
const int = (description: string, extra: Schema = {}): Schema => ({ type: 'integer', description, ...extra });
const time = (description: string): Schema => str(description, { format: 'date-time' });
const obj = (properties: Record<string, Schema>, required: string[] = []): Schema => ({ type: 'object', properties, ...(required.length ? { required } : {}) });
const arr = (items: Schema = {}): Schema => ({ type: 'array', items });
const list = (item: Schema, extra: Record<string, Schema> = {}): Schema => obj({ items: arr(item), ...extra }, ['items']);
const ref = (name: string): Schema => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: Schema) => ({ 'application/json': { schema } });
const ok = (status: Op['ok']['status'], description: string, schema?: Schema): Op['ok'] => ({ status, description, ...(schema ? { content: json(schema) } : {}) });
/** A query parameter: `name` is added from its key. */
const q = (description: string, schema: Schema = { type: 'string' }, extra: Schema = {}): Schema => ({ description, schema, ...extra });

const ACCOUNT_KEY = '^[a-z][a-z0-9_-]{0,31}:[A-Za-z0-9_.@+=-]{1,128}$';
const account = q("One account, as `<channel>:<account id>` (e.g. `messenger:1234`); out of the caller's accounts it matches nothing", str(undefined, { pattern: ACCOUNT_KEY }));
const page = q('Older form of `account`: a Messenger page id (`page=1234` is `account=messenger:1234`)', str(), { deprecated: true });
/** `from` (included) and `to` (excluded): an ISO 8601 date or time; `span`, the default period before `to` (now). */
const period = (span?: string) => ({
  from: q(`Start, ISO 8601 date or time${span ? ` (default: ${span} before \`to\`)` : ''}`),
  to: q(`End, ISO 8601 date or time${span ? ' (default: now)' : ''}`),
});
const score: Schema = { type: 'number', minimum: 0, maximum: 1 };
const KINDS = [...new Set(Object.values(FILE_TYPES))];
const flag = q('A boolean: empty, `true`/`false`, `1`/`0`, `yes`/`no`', str(undefined, { enum: ['', 'true', 'false', '1', '0', 'yes', 'no'] }));
/** What a queued agent action may carry: a retry with the same `id` is deduplicated. */
const queued = obj({
  id: str('1 to 100 letters, digits, `_ . : -`; a retry with the same id sends nothing twice', { pattern: '^[A-Za-z0-9_.:-]{1,100}$' }),
  agent: str('Taken from the sign-in: leave it out (a different name is a 400)'),
});

const OPS: Record<string, Op> = {
  'GET /openapi.json': { tag: 'session', public: true, summary: 'This document', ok: ok(200, 'The OpenAPI document of the admin API', { type: 'object' }) },
  'POST /session': {
    tag: 'session',
    public: true,
    summary: 'Sign in',
    description:
      'With a user of ADMIN_USERS_FILE and their password, or with the ADMIN_TOKEN. The session token lasts 12 hours. ' +
      'Failed attempts are limited per address (429) and slowed down per account (429); too many password checks at once are a 503.',
    body: { anyOf: [obj({ user: str(), password: str() }, ['user', 'password']), obj({ token: str('The ADMIN_TOKEN') }, ['token'])] },
    ok: ok(
      201,
      'Signed in: send `Authorization: Bearer <token>`',
      obj(
        {
          token: str(),
          name: str(),
          role: str(undefined, { enum: ['admin', 'agent', 'viewer'] }),
          accounts: { oneOf: [arr(str()), { const: '*' }], description: 'The granted account keys, or `*` for every account' },
        },
        ['token', 'name', 'role', 'accounts'],
      ),
    ),
    errors: [401, 429, 503],
  },
  'DELETE /session': { tag: 'session', summary: 'Sign out', description: 'Ends the session of the bearer token and closes its live feeds.', ok: ok(204, 'Signed out') },
  'GET /me': {
    tag: 'session',
    summary: 'Who is signed in',
    ok: ok(
      200,
      'The user, their accounts, the intents the model knows and the channels served',
      obj({
        name: str(),
        role: str(),
        accounts: {},
        intents: arr(str()),
        pickableAccounts: arr({ type: 'object' }),
        channels: arr(str()),
      }),
    ),
  },
  'GET /conversations': {
    tag: 'conversations',
    summary: 'List conversations',
    description: "Newest activity first, within the caller's accounts; page on with `cursor`.",
    query: {
      q: q('Text search in the messages'),
      account,
      page,
      channel: q('A channel type, e.g. `whatsapp`'),
      status: q('Inbox status; `human` is waiting, assigned or snoozed', str(undefined, { enum: [...STATUSES, 'human'] })),
      agent: q('The agent holding the conversation'),
      intent: q('Conversations with a message of this intent'),
      lowConfidence: q('`1` or `true`: only conversations with a message below the confidence threshold'),
      ...period(),
      cursor: q('`nextCursor` of the previous page'),
      limit: q('Page size', int('1 to 200', { minimum: 1, maximum: 200 })),
    },
    ok: ok(200, 'One page of conversations', list({ type: 'object' }, { nextCursor: str('Absent on the last page') })),
  },
  'GET /conversations/:id': {
    tag: 'conversations',
    summary: 'One conversation with its messages',
    description: 'Notes are left out for viewers.',
    ok: ok(
      200,
      'The conversation, its messages, notes, inbox state and bot mode',
      obj(
        {
          conversation: { type: 'object' },
          messages: arr(),
          notes: arr(),
          inbox: { type: 'object' },
          mode: str(),
          lowConfidenceBelow: { type: 'number' },
        },
        ['conversation', 'messages', 'notes', 'lowConfidenceBelow'],
      ),
    ),
  },
  'GET /conversations/:id/state': {
    tag: 'conversations',
    summary: "The bot's state of a conversation",
    ok: ok(
      200,
      "Bot or human mode, the agent, and the dialog's slots",
      obj(
        {
          mode: str(undefined, { enum: ['bot', 'human'] }),
          agent: str(),
          humanSince: time('Since when a person answers'),
          slots: { type: 'object' },
        },
        ['mode', 'slots'],
      ),
    ),
  },
  'POST /conversations/:id/notes': {
    tag: 'conversations',
    role: 'agent',
    summary: 'Add a private note',
    description: 'Notes are for the team: never sent to the user.',
    body: obj({ text: str('Not blank', { minLength: 1, maxLength: 5000 }) }, ['text']),
    ok: ok(201, 'The note', obj({ id: str(), author: str(), text: str(), createdAt: time('When') }, ['id', 'author', 'text', 'createdAt'])),
  },
  'POST /messages/:mid/label': {
    tag: 'conversations',
    role: 'agent',
    summary: 'Correct (or confirm) the intent of an inbound message',
    body: {
      anyOf: [obj({ intent: str(undefined, { pattern: '^[A-Za-z0-9_.-]{1,64}$' }) }, ['intent']), obj({ correct: { const: true, description: 'The prediction was right (wins over `intent`)' } }, ['correct'])],
    },
    ok: ok(200, 'The stored label', obj({ id: str(), correctedIntent: str('The intent, or `predicted`') }, ['id', 'correctedIntent'])),
  },
  'POST /conversations/:id/takeover': {
    tag: 'agent actions',
    role: 'agent',
    summary: 'Take over from the bot',
    description: 'Claims the conversation (409 while another agent holds it) and queues the takeover behind what the user already sent.',
    body: queued,
    ok: ok(202, "Queued in the conversation's order", ref('Queued')),
    errors: [409],
  },
  'POST /conversations/:id/reply': {
    tag: 'agent actions',
    role: 'agent',
    summary: 'Reply as an agent',
    description: 'Claims the conversation (409 while another agent holds it) and queues the reply in order; ' + 'a channel splits what its platform cannot take in one message.',
    body: {
      ...queued,
      properties: {
        ...(queued.properties as Schema),
        text: str('Not blank', { minLength: 1, maxLength: 5000 }),
        attachment: obj(
          {
            type: str(undefined, { enum: KINDS }),
            url: str('The `url` POST …/attachments answered for this conversation'),
            name: str(undefined, { maxLength: 100 }),
          },
          ['type', 'url'],
        ),
      },
      anyOf: [{ required: ['text'] }, { required: ['attachment'] }],
    },
    ok: ok(202, "Queued in the conversation's order", ref('Queued')),
    errors: [409],
  },
  'POST /conversations/:id/release': {
    tag: 'agent actions',
    role: 'agent',
    summary: 'Hand back to the bot',
    description: "The caller's conversation or a free one (admins: any).",
    body: queued,
    ok: ok(202, "Queued in the conversation's order", ref('Queued')),
    errors: [409],
  },
  'POST /conversations/:id/forget': {
    tag: 'conversations',
    role: 'admin',
    summary: "Erase the user's data on this account",
    description: 'Everywhere it is held (Redis and the chatlog); 503 while the conversation is busy or the chatlog is unavailable.',
    ok: ok(200, 'Erased', obj({ confirmationCode: str(), erased: { type: 'object' } }, ['confirmationCode', 'erased'])),
  },
  'GET /stats': {
    tag: 'chatlog',
    summary: 'Traffic, latency and intent statistics',
    query: { ...period('24 hours'), account, page, channel: q('A channel type') },
    ok: ok(200, 'Statistics of the period', { type: 'object' }),
  },
  'GET /export': {
    tag: 'chatlog',
    summary: 'Export the chatlog for retraining',
    description: "Streamed as a download, within the caller's accounts and the retention period. User ids are pseudonyms unless `raw-ids`.",
    query: {
      format: q('The file format', str(undefined, { enum: Object.keys(EXPORT_FORMATS) }), { required: true }),
      ...period(),
      account: q('Account keys `<channel>:<id>`, comma-separated'),
      channel: q('Channel types, comma-separated'),
      page: q('Messenger page ids (repeat or comma-separate)', arr(str()), { deprecated: true }),
      intent: q('Intents after correction (repeat or comma-separate)', arr(str())),
      'min-score': q('Lowest score, 0 to 1', score),
      'max-score': q('Highest score, 0 to 1', score),
      direction: q('Which messages; the corpus formats (nlpjs, rasa) take `in` only', str(undefined, { enum: ['in', 'out', 'all'], default: 'in' })),
      'corrected-only': flag,
      dedupe: { ...flag, description: `Each text once (default true). ${flag.description}` },
      'raw-ids': flag,
      redact: { ...flag, description: `Replace emails and phone numbers. ${flag.description}` },
    },
    ok: {
      status: 200,
      description: `The export, as an attachment: ${Object.entries(EXPORT_FORMATS)
        .map(([k, f]) => `\`${k}\` (${f.contentType})`)
        .join(', ')}`,
      content: Object.fromEntries(Object.values(EXPORT_FORMATS).map((f) => [f.contentType.split(';')[0]!, {}])),
    },
  },
  'GET /live': {
    tag: 'chatlog',
    summary: 'Live updates (server-sent events)',
    description: "Events `messages` (new chatlog rows of the caller's accounts), `inbox` (status changes, presence, typing) " + 'and `ended` (the session ended: `{error}`, then the stream closes); a comment every 5 s keeps it open.',
    ok: { status: 200, description: 'An endless event stream', content: { 'text/event-stream': { schema: str() } } },
  },
  'GET /inbox/waiting': {
    tag: 'inbox',
    summary: 'The waiting queue',
    description: 'Conversations waiting for a person, oldest first, at most 200.',
    ok: ok(
      200,
      "Waiting conversations, with the user's profile when known",
      list(
        obj({
          key: str(),
          channel: str(),
          accountId: str(),
          userId: str(),
          waitingSince: time('Since'),
          waitedMs: int('Waited so far'),
        }),
      ),
    ),
  },
  'GET /inbox/agents': {
    tag: 'inbox',
    summary: "Agents' presence",
    ok: ok(200, "Agents of the caller's accounts", list(obj({ name: str(), status: str(undefined, { enum: ['online', 'away'] }), at: time('Last heartbeat') }))),
  },
  'POST /inbox/presence': {
    tag: 'inbox',
    role: 'agent',
    summary: "Set (and refresh) the caller's presence",
    body: obj({ status: str(undefined, { enum: ['online', 'away'] }) }, ['status']),
    ok: ok(200, 'The presence', obj({ name: str(), status: str() })),
  },
  'GET /conversations/:id/inbox': {
    tag: 'inbox',
    summary: 'The inbox state of a conversation',
    ok: ok(200, "Its state, the user's profile and the status history", { allOf: [ref('InboxState'), obj({ profile: { type: 'object' }, history: arr() })] }),
  },
  'POST /conversations/:id/claim': {
    tag: 'inbox',
    role: 'agent',
    summary: 'Claim a conversation',
    description: 'Exclusive: 409 naming who holds it.',
    ok: ok(200, 'The new state', ref('InboxState')),
    errors: [409],
  },
  'POST /conversations/:id/assign': {
    tag: 'inbox',
    role: 'agent',
    summary: 'Assign to an agent',
    body: obj({ agent: str('An agent of this account', { pattern: '^[A-Za-z0-9_.@-]{1,64}$' }) }, ['agent']),
    ok: ok(200, 'The new state', ref('InboxState')),
    errors: [409],
  },
  'POST /conversations/:id/unassign': { tag: 'inbox', role: 'agent', summary: 'Put back in the waiting queue', ok: ok(200, 'The new state', ref('InboxState')), errors: [409] },
  'POST /conversations/:id/resolve': {
    tag: 'inbox',
    role: 'agent',
    summary: 'Resolve',
    description: 'Queues the satisfaction survey (CSAT_SURVEY).',
    ok: ok(200, 'The new state', ref('InboxState')),
    errors: [409],
  },
  'POST /conversations/:id/snooze': {
    tag: 'inbox',
    role: 'agent',
    summary: 'Snooze until a time in the next 30 days',
    body: { anyOf: [obj({ until: time('When it comes back') }, ['until']), obj({ minutes: int('Whole minutes from now', { minimum: 1 }) }, ['minutes'])] },
    ok: ok(200, 'The new state', ref('InboxState')),
    errors: [409],
  },
  'POST /conversations/:id/typing': {
    tag: 'inbox',
    role: 'agent',
    summary: 'Show the user that an agent is typing',
    description: 'Not queued; sent at most every 3 s per agent and conversation.',
    ok: ok(202, 'Accepted', obj({ typing: { const: true } })),
  },
  'GET /conversations/:id/presence': {
    tag: 'conversations',
    summary: 'Whether a web chat visitor is online and typing',
    description: "For channels with a live connection to the user (web chat); another channel's conversation is a 404. Changes also stream on `/live` as `event: presence`.",
    ok: ok(200, "The visitor's presence", obj({ online: { type: 'boolean' }, typing: { type: 'boolean' }, connections: int('Open sockets (tabs, devices)', { minimum: 0 }) }, ['online', 'typing', 'connections'])),
  },
  'GET /conversations/:id/suggestion': {
    tag: 'inbox',
    role: 'agent',
    summary: 'The AI suggestion for the last message',
    ok: ok(
      200,
      'The suggestion, or null',
      obj(
        {
          suggestion: { oneOf: [obj({ text: str(), intent: str(), score: { type: 'number' }, forMessage: str(), at: time('When') }), { type: 'null' }] },
        },
        ['suggestion'],
      ),
    ),
  },
  'GET /canned': { tag: 'tools', summary: "Canned replies of the caller's accounts", query: { account }, ok: ok(200, 'Canned replies', list(ref('CannedReply'))) },
  'POST /canned': {
    tag: 'tools',
    role: 'admin',
    summary: 'Add a canned reply',
    description: 'Fields such as `{{first_name}}`, `{{name}}` and `{{user_id}}` are filled when an agent picks it; a title is unique per account (409).',
    body: obj(
      {
        account: str(undefined, { pattern: ACCOUNT_KEY }),
        title: str('Not blank', { minLength: 1, maxLength: 80 }),
        text: str('Not blank', { minLength: 1, maxLength: 2000 }),
      },
      ['account', 'title', 'text'],
    ),
    ok: ok(201, 'The canned reply', ref('CannedReply')),
    errors: [404, 409],
  },
  'DELETE /canned/:cid': { tag: 'tools', role: 'admin', summary: 'Delete a canned reply', ok: ok(204, 'Deleted') },
  'GET /conversations/:id/canned': {
    tag: 'tools',
    role: 'agent',
    summary: 'Canned replies filled for this conversation',
    ok: ok(200, 'Canned replies, fields filled', list(obj({ id: str(), title: str(), text: str() }))),
  },
  'POST /conversations/:id/attachments': {
    tag: 'tools',
    role: 'agent',
    summary: 'Upload a file to attach to a reply',
    description:
      "The body is the file's bytes (at most ATTACHMENT_MAX_BYTES, 8 MiB by default) under its content type. " +
      'Platforms fetch it from `<PUBLIC_URL>/files/<conversation>/<token>` (no sign-in: the token is the key); 503 without PUBLIC_URL.',
    raw: Object.keys(FILE_TYPES),
    query: { name: q('The file name shown to the user (default `file`)', str(undefined, { maxLength: 100 })) },
    ok: ok(201, "Stored: send `url` as a reply's attachment", obj({ url: str(), type: str(undefined, { enum: KINDS }), name: str(), bytes: int('Size') }, ['url', 'type', 'name', 'bytes'])),
    errors: [415],
  },
  'GET /kpis': { tag: 'tools', summary: 'Support KPIs', query: { ...period('7 days'), account }, ok: ok(200, 'KPIs of the period', { type: 'object' }) },
  'GET /models/': {
    tag: 'models',
    summary: 'The live NLU model and its history',
    ok: ok(200, 'Versions, newest first', obj({ current: { type: ['string', 'null'] }, history: arr(str()), training: { type: 'boolean' } }, ['current', 'history', 'training'])),
  },
  'POST /models/retrain': {
    tag: 'models',
    role: 'admin of every account',
    summary: 'Retrain on the corpus and the corrected labels, and publish',
    description: 'Answers when done; 409 while a training runs, 500 if it fails (the live model is unchanged).',
    ok: ok(201, 'Published', obj({ version: str(), intents: int('Intents'), utterances: int('Utterances'), corrections: int('Corrected labels used'), trainMs: int('Duration') })),
    errors: [409, 500],
  },
  'POST /models/rollback': {
    tag: 'models',
    role: 'admin of every account',
    summary: 'Go back to the previous model',
    ok: ok(200, 'Rolled back', obj({ from: str(), to: str() })),
    errors: [409],
  },
};

const PATH_PARAMS: Record<string, Schema> = {
  id: {
    description: 'A conversation key, URL-encoded: `<channel>:<account id>:<user id>`, and for Messenger `<page id>:<user PSID>`. ' + 'A conversation of an account the caller is not granted is a 404.',
    schema: str(undefined, { pattern: '^(?:[a-z][a-z0-9_-]{0,31}:)?[A-Za-z0-9_.@+=-]{1,128}:[A-Za-z0-9_.@+=-]{1,128}$' }),
    example: 'whatsapp:15550001234:4915112345678',
  },
  mid: { description: "A message's id (`messages[].id` of a conversation)", schema: str(undefined, { pattern: '^[0-9]{1,19}$' }) },
  cid: { description: "A canned reply's id", schema: str(undefined, { pattern: '^[0-9]{1,19}$' }) },
};

const ERRORS: Record<ErrorStatus, string> = {
  400: 'A malformed query parameter, path id or body: the error names it',
  401: 'No bearer token, or an unknown or ended one (the error says why)',
  403: "The caller's role may not do this",
  404: 'Not found, or of an account the caller is not granted (never a 403: ids leak nothing)',
  409: 'Someone else holds the conversation (`agent` and `since` say who), or a conflict with the current state',
  413: 'The body is larger than the limit',
  415: 'A content type this route does not take',
  429: 'Too many failed sign-ins or tokens from this address, or this account is slowed down: retry after `Retry-After` seconds',
  500: 'The operation failed; nothing changed',
  503: 'Unavailable: the admin API is disabled (no ADMIN_TOKEN nor ADMIN_USERS_FILE), or what the route needs (Redis, the chatlog, the agent inbox) is not: retry later',
};

const ROLES: Record<NonNullable<Op['role']>, string> = { agent: 'Needs the agent or admin role.', admin: 'Needs the admin role.', 'admin of every account': 'Needs an admin of every account.' };

/** The row `key` (`METHOD /express/path`) as an OpenAPI path, method and operation. */
function operation(key: string, op: Op): [path: string, method: string, operation: Schema] {
  const [method, route] = key.split(' ') as [string, string];
  const path = route.replace(/:(\w+)/g, '{$1}').replace(/(.)\/$/, '$1');
  const params = [...route.matchAll(/:(\w+)/g)].map(([, name]) => ({ name, in: 'path', required: true, ...PATH_PARAMS[name!] }));
  const query = Object.entries(op.query ?? {}).map(([name, p]) => ({ name, in: 'query', ...p }));
  // Every signed-in route checks the token (401, 429, 503) and the query and body (400).
  const errors = new Set<number>([...(op.public ? [] : [400, 401, 429, 503]), ...(op.errors ?? [])]);
  if (op.body) errors.add(400).add(413);
  if (op.raw) errors.add(413);
  if (op.role) errors.add(403);
  if (params.length) errors.add(404);
  const body = op.body && { required: 'required' in op.body || 'oneOf' in op.body || 'anyOf' in op.body, content: json(op.body) };
  const raw = op.raw && { required: true, content: Object.fromEntries(op.raw.map((t) => [t, {}])) };
  const description = [op.description, op.role && ROLES[op.role]].filter(Boolean).join(' ');
  return [
    path,
    method.toLowerCase(),
    {
      operationId: method.toLowerCase() + path.replace(/[^A-Za-z0-9]+(\w?)/g, (_, c: string) => c.toUpperCase()),
      summary: op.summary,
      ...(description ? { description } : {}),
      tags: [op.tag],
      ...(op.public ? { security: [] } : {}),
      ...(params.length || query.length ? { parameters: [...params, ...query] } : {}),
      ...(body || raw ? { requestBody: body ?? raw } : {}),
      responses: {
        [op.ok.status]: { description: op.ok.description, ...(op.ok.content ? { content: op.ok.content } : {}) },
        ...Object.fromEntries([...errors].sort((a, b) => a - b).map((s) => [s, { $ref: `#/components/responses/E${s}` }])),
      },
    },
  ];
}

function build(): Schema {
  const paths: Record<string, Record<string, Schema>> = {};
  for (const [key, op] of Object.entries(OPS)) {
    const [path, method, o] = operation(key, op);
    (paths[path] ??= {})[method] = o;
  }
  const retryAfter = { 'retry-after': { description: 'Seconds to wait', schema: { type: 'integer' } } };
  return {
    openapi: '3.1.0',
    info: {
      title: 'ordered-chatbot admin API',
      version: '1',
      description:
        "Conversations, agent actions and the agent inbox, the chatlog's views and export, and the NLU models. Agent actions are queued behind what the user already sent (202). " +
        'Every route but sign-in and this document needs `Authorization: Bearer <token>`: a session token from `POST /session`, or the ADMIN_TOKEN. ' +
        "A query parameter must be a plain value (given once; only the export's `page` and `intent` repeat); JSON bodies are limited to 64 KiB. " +
        'Files attached to replies are served outside this API, at `/files/<conversation>/<token>`.',
    },
    servers: [{ url: '/admin/api' }],
    security: [{ bearer: [] }],
    paths,
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'A session token from `POST /session`, or the ADMIN_TOKEN' } },
      responses: Object.fromEntries(Object.entries(ERRORS).map(([s, description]) => [`E${s}`, { description, ...(s === '429' ? { headers: retryAfter } : {}), content: json(ref('Error')) }])),
      schemas: {
        Error: obj({ error: str('What went wrong, for a person to read') }, ['error']),
        Queued: obj(
          {
            id: str('The event id'),
            conversation: str('The conversation key'),
            status: str('`duplicate`: this id was queued before; `overflow`: queued in the overflow list', { enum: ['queued', 'duplicate', 'overflow'] }),
          },
          ['id', 'conversation', 'status'],
        ),
        InboxState: obj(
          {
            status: str(undefined, { enum: [...STATUSES] }),
            agent: str('Who holds it'),
            since: time('Since when in this status'),
            waitingSince: time('Waiting for a person since'),
            snoozeUntil: time('Snoozed until'),
            thread: str('Who holds the thread on the platform (Page Inbox)'),
          },
          ['status', 'since'],
        ),
        CannedReply: obj({ id: str(), account: str('`<channel>:<account id>`'), title: str(), text: str(), createdBy: str() }, ['id', 'account', 'title', 'text', 'createdBy']),
      },
    },
  };
}

/** The document, built once. */
export const OPENAPI: Readonly<Schema> = build();
