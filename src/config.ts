/**
 * The one place that reads the environment. `loadConfig` validates every variable of
 * the DESIGN contract (plus the tuning knobs), reports every problem at once and hands
 * out a frozen, typed object. No other module reads `process.env`.
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { parseActionsFile, type ActionSpec } from './bot/actions';
import { parseUsersFile, type AdminUser } from './admin/users';
import { jsonSection, Reader, type Env } from './config-reader';
import { readRedisConfig, type RedisConfig } from './config-redis';
import { parseChannelsFile, type ChannelEntry } from './config-channels';

export type Role = 'all' | 'gateway' | 'worker' | 'chatlog';
export const ROLES: readonly string[] = ['all', 'gateway', 'worker', 'chatlog'];
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
const DEV_APP_SECRET = 'dev-app-secret-change-me';
const DEV_VERIFY_TOKEN = 'dev-verify-token';
const DEV_PAGE_TOKEN = 'dev-page-access-token';
export const DEFAULT_GRAPH_API_URL = 'https://graph.facebook.com/v21.0';
export const DEFAULT_LINE_API_URL = 'https://api.line.me';
const DEFAULT_NLU_THRESHOLD = 0.5;

export interface PageConfig {
  readonly id: string;
  readonly name?: string;
  readonly accessToken: string;
}

export interface Config {
  readonly production: boolean;
  readonly role: Role;
  readonly port: number;
  readonly host: string;
  /**
   * TRUST_PROXY, as express's 'trust proxy' setting: which proxies' X-Forwarded-For is
   * believed for the client address (the admin sign-in limits count per address).
   */
  readonly trustProxy: boolean | number | readonly string[];
  readonly dataDir: string;
  readonly logLevel: string;
  /** Problems that are allowed in dev mode but worth a warning line at start. */
  readonly warnings: readonly string[];
  readonly fb: {
    readonly appSecret: string;
    /**
     * FB_APP_ID: the Meta app's id. With it the data-deletion callback resolves the app-scoped
     * id it is sent to the user's page-scoped ids on our pages (Graph API `ids_for_pages`).
     */
    readonly appId?: string;
    /** Accept webhooks signed only with the legacy sha1 `X-Hub-Signature` (FB_ALLOW_SHA1). */
    readonly allowSha1: boolean;
    readonly verifyToken: string;
    /** Token used for every page when no PAGES_FILE lists the page. */
    readonly defaultPageToken?: string;
    /** Pages from PAGES_FILE; when set, events of other pages are not queued. */
    readonly pages?: ReadonlyMap<string, PageConfig>;
    /** Undefined in dev mode without GRAPH_API_URL: the built-in emulator is used. */
    readonly graphApiUrl?: string;
  };
  /** CHANNELS_FILE: every account of every channel (undefined: Messenger from PAGES_FILE / FB_PAGE_ACCESS_TOKEN, and dev accounts in dev mode). */
  readonly channels?: readonly ChannelEntry[];
  /** LINE's API base URL; undefined in dev mode without LINE_API_URL: the built-in emulator is used. */
  readonly lineApiUrl?: string;
  readonly redis: RedisConfig;
  readonly databaseUrl?: string;
  readonly chatlog: {
    /** Run the chatlog consumer in ROLE=all (always in ROLE=chatlog). */
    readonly enabled: boolean;
    readonly shards: number;
    readonly batchSize: number;
    readonly pollMs: number;
    readonly claimIdleMs: number;
    /** Messages older than this many days are deleted (undefined: kept for ever). */
    readonly retentionDays?: number;
  };
  readonly adminToken?: string;
  /** HMAC key of the user pseudonyms in exports: the same user gets the same pseudonym in every export. */
  readonly exportIdSecret?: string;
  /** From ADMIN_USERS_FILE: who may sign in to the admin app, with their role and pages (as read at start). */
  readonly adminUsers?: ReadonlyMap<string, AdminUser>;
  /** ADMIN_USERS_FILE's path: gateways watch it and apply a valid new version without a restart. */
  readonly adminUsersFile?: string;
  readonly nlu: {
    readonly model?: string;
    /** Comma-separated corpus files. */
    readonly corpus?: string;
    /** Below this score the intent is `None` and the bot answers with a fallback. */
    readonly threshold: number;
    /** How often workers look for a newly published model. */
    readonly reloadMs: number;
  };
  readonly bot: {
    /** `dialog` (NLU, context, actions) or `echo` (acknowledges each message: pipeline tests and load runs). */
    readonly kind: 'dialog' | 'echo';
    /** From ACTIONS_FILE; undefined = the built-in dev-mode example (dev mode) or none. */
    readonly actions?: ReadonlyMap<string, ActionSpec>;
    readonly contextTtlMs: number;
    /** Human mode ends by itself after this long without agent activity. */
    readonly handoffIdleMs: number;
    /** Send `mark_seen` when the worker picks up a user's messages. */
    readonly markSeen: boolean;
  };
  /** The agent inbox (src/inbox): alerts, the notice to waiting users, assignment, the survey, attachments. */
  readonly inbox: {
    /** HANDOFF_WEBHOOK_URL: where a handoff alert is POSTed (an account's `handoffWebhookUrl` wins). */
    readonly webhookUrl?: string;
    /** HANDOFF_WEBHOOK_SECRET: HMAC-SHA256 key of the alert's `X-Chatbot-Signature`. */
    readonly webhookSecret?: string;
    /** HANDOFF_NOTICE_MINUTES: a waiting user is told when to expect an answer after this long (0: never). */
    readonly noticeMinutes: number;
    /** INBOX_AUTO_ASSIGN: `round-robin` hands waiting conversations to online agents in turn. */
    readonly autoAssign: 'off' | 'round-robin';
    /** CSAT_SURVEY: a 1-5 survey after a conversation is resolved. */
    readonly csat: boolean;
    /** PUBLIC_URL: this deployment's public base URL (platforms fetch agents' attachments from it). */
    readonly publicUrl?: string;
    /** ATTACHMENT_MAX_BYTES: the largest file an agent may attach. */
    readonly attachmentMaxBytes: number;
  };
  readonly webhook: { readonly bodyLimitBytes: number };
  /** A request's headers and body must arrive within this (node's requestTimeout and headersTimeout). */
  readonly http: { readonly requestTimeoutMs: number };
  readonly queue: {
    readonly shards: number;
    readonly maxPerConversation: number;
    /** Events that may wait in one conversation's overflow list before the gateway answers 503 (0 = no bound). */
    readonly maxOverflow: number;
    readonly dedupeTtlMs: number;
    readonly lockTtlMs: number;
    readonly batchSize: number;
    /** Shortest time between a worker's polling rounds while work trickles in (rounds gather what came meanwhile). */
    readonly pollMs: number;
    readonly sweepIntervalMs: number;
    readonly contentionDelayMs: number;
  };
  readonly worker: {
    readonly concurrency: number;
    /** Longest an idle worker waits for a wake-up before it polls anyway (pub/sub is at most once). */
    readonly idleMs: number;
    readonly shutdownTimeoutMs: number;
    /** A worker silent this long is presumed dead and its conversations handed over (0: off, the lease decides). */
    readonly deadAfterMs: number;
  };
  readonly send: {
    readonly timeoutMs: number;
    readonly maxAttempts: number;
    readonly backoffBaseMs: number;
    readonly backoffMaxMs: number;
    readonly retryLaterMs: number;
    readonly echoGraceMs: number;
  };
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(readonly problems: readonly string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
  }
}

const PAGE_ID = /^[A-Za-z0-9_-]{1,64}$/;

/** PAGES_FILE: {"pages":[{"id":"123","name":"Shop","accessToken":"EAA…"}]} */
export function parsePagesFile(text: string, where: string): { pages?: Map<string, PageConfig>; problems: string[] } {
  const problems: string[] = [];
  const section = jsonSection(text, where, 'pages');
  if ('problem' in section) return { problems: [section.problem] };
  const list = section.value;
  if (!Array.isArray(list) || list.length === 0) {
    return { problems: [`${where} must be an object with a non-empty "pages" array`] };
  }
  const pages = new Map<string, PageConfig>();
  list.forEach((p: Record<string, unknown>, i) => {
    const id = typeof p?.id === 'string' ? p.id : typeof p?.id === 'number' ? String(p.id) : '';
    if (!PAGE_ID.test(id)) problems.push(`${where} pages[${i}].id must be a page id (digits, letters, _ or -)`);
    if (typeof p?.accessToken !== 'string' || p.accessToken.length < 8) problems.push(`${where} pages[${i}].accessToken must be a string of at least 8 characters`);
    if (pages.has(id)) problems.push(`${where} pages[${i}].id ${id} is listed twice`);
    if (p?.name !== undefined && typeof p.name !== 'string') problems.push(`${where} pages[${i}].name must be a string`);
    pages.set(id, { id, accessToken: String(p?.accessToken), ...(typeof p?.name === 'string' ? { name: p.name } : {}) });
  });
  return problems.length ? { problems } : { pages, problems };
}

const PROXY_PRESETS = ['loopback', 'linklocal', 'uniquelocal'];

function isAddressOrCidr(v: string): boolean {
  const [ip, bits, ...rest] = v.split('/');
  const family = net.isIP(ip ?? '');
  if (!family || rest.length) return false;
  return bits === undefined || (/^\d{1,3}$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128));
}

/** TRUST_PROXY: false, true, a hop count, or addresses/CIDRs of the proxies (express's forms). */
function readTrustProxy(r: Reader, warnings: string[]): boolean | number | string[] {
  const raw = r.str('TRUST_PROXY');
  if (raw === undefined || raw === 'false') return false;
  if (raw === 'true') {
    warnings.push("TRUST_PROXY=true believes the leftmost X-Forwarded-For entry, which any client can write: per-address sign-in limits can be dodged unless your proxy replaces the header; prefer a hop count or the proxies' addresses");
    return true;
  }
  if (/^\d+$/.test(raw)) {
    const hops = Number(raw);
    if (hops >= 1 && hops <= 10) return hops;
  } else {
    const list = raw
      .split(',')
      .map((x) => x.trim())
      .filter(Boolean);
    if (list.length && list.every((x) => PROXY_PRESETS.includes(x) || isAddressOrCidr(x))) return list;
  }
  r.problems.push(`TRUST_PROXY=${JSON.stringify(raw)} must be false, true, a number of proxy hops from 1 to 10, or a comma-separated list of proxy addresses or CIDRs (or ${PROXY_PRESETS.join(', ')})`);
  return false;
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object' && !(o instanceof Map)) {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}

export function loadConfig(env: Env = process.env, cwd = process.cwd()): Config {
  const r = new Reader(env);
  const warnings: string[] = [];
  const nodeEnv = r.oneOf('NODE_ENV', ['development', 'production', 'test'], 'development');
  const production = nodeEnv === 'production';

  const role = r.oneOf('ROLE', ROLES, 'all');

  const secret = (name: string, dev: string, minLen: number): string => {
    const v = r.str(name);
    if (v === undefined) {
      if (production && (role === 'all' || role === 'gateway')) r.problems.push(`${name} is required when NODE_ENV=production`);
      else if (production) return '';
      else warnings.push(`${name} is not set: using the development value "${dev}"; never expose this instance`);
      return dev;
    }
    if (v.length < minLen) r.problems.push(`${name} must be at least ${minLen} characters`);
    return v;
  };
  const appSecret = secret('FB_APP_SECRET', DEV_APP_SECRET, 8);
  const verifyToken = secret('FB_VERIFY_TOKEN', DEV_VERIFY_TOKEN, 4);
  const appId = r.str('FB_APP_ID');
  if (appId !== undefined && !/^\d{1,32}$/.test(appId)) r.problems.push(`FB_APP_ID=${JSON.stringify(appId)} must be the Meta app's numeric id (digits only)`);
  else if (appId === undefined && (role === 'all' || role === 'gateway'))
    warnings.push("FB_APP_ID is not set: Meta's data-deletion callback cannot find Messenger users' page-scoped data (it is sent the app-scoped id, and only FB_APP_ID lets it ask the Graph API for the page-scoped ones)");

  const pagesFile = r.str('PAGES_FILE');
  const channels = r.file('CHANNELS_FILE', cwd, (text, where) => {
    const parsed = parseChannelsFile(text, where);
    return { problems: parsed.problems, value: parsed.entries };
  });
  const messengerInChannels = channels?.some((c) => c.type === 'messenger') ?? false;
  const pages = r.file('PAGES_FILE', cwd, (text, where) => {
    const parsed = parsePagesFile(text, where);
    return { problems: parsed.problems, value: parsed.pages };
  });
  let defaultPageToken = r.str('FB_PAGE_ACCESS_TOKEN');
  if (defaultPageToken === undefined && pagesFile === undefined && !messengerInChannels) {
    // Only the roles that call the Send API need a page token.
    if (production && (role === 'all' || role === 'worker') && channels === undefined) r.problems.push('CHANNELS_FILE (or, for Messenger alone, FB_PAGE_ACCESS_TOKEN or PAGES_FILE) is required when NODE_ENV=production');
    else if (!production) defaultPageToken = DEV_PAGE_TOKEN;
  }

  let graphApiUrl = r.str('GRAPH_API_URL');
  if (graphApiUrl !== undefined) {
    if (!/^https?:\/\/[^\s]+$/.test(graphApiUrl)) r.problems.push(`GRAPH_API_URL=${JSON.stringify(graphApiUrl)} must be an http(s) URL`);
    graphApiUrl = graphApiUrl.replace(/\/+$/, '');
  } else if (production) graphApiUrl = DEFAULT_GRAPH_API_URL;

  let lineApiUrl = r.str('LINE_API_URL');
  if (lineApiUrl !== undefined) {
    if (!/^https?:\/\/[^\s]+$/.test(lineApiUrl)) r.problems.push(`LINE_API_URL=${JSON.stringify(lineApiUrl)} must be an http(s) URL`);
    lineApiUrl = lineApiUrl.replace(/\/+$/, '');
  } else if (production) lineApiUrl = DEFAULT_LINE_API_URL;

  const redis = readRedisConfig(r, production, cwd);

  const databaseUrl = readDatabaseUrl(r);
  const chatlogEnabled = r.oneOf('CHATLOG_ENABLED', ['true', 'false'], 'true') === 'true';
  if (production && databaseUrl === undefined && (role === 'chatlog' || (role === 'all' && chatlogEnabled))) r.problems.push('DATABASE_URL is required when NODE_ENV=production for the chatlog role');
  const adminToken = r.str('ADMIN_TOKEN');
  if (adminToken !== undefined && adminToken.length < 16) r.problems.push('ADMIN_TOKEN must be at least 16 characters');
  const exportIdSecret = r.str('EXPORT_ID_SECRET');
  if (exportIdSecret !== undefined && exportIdSecret.length < 16) r.problems.push('EXPORT_ID_SECRET must be at least 16 characters');
  const nluModel = r.str('NLU_MODEL');
  const nluCorpus = r.str('NLU_CORPUS');
  const files = (v: string | undefined) =>
    (v ?? '')
      .split(',')
      .map((f) => f.trim())
      .filter(Boolean)
      .map((f) => path.resolve(cwd, f));
  for (const [name, v] of [
    ['NLU_MODEL', nluModel],
    ['NLU_CORPUS', nluCorpus],
  ] as const) {
    for (const f of files(v)) if (!fs.existsSync(f)) r.problems.push(`${name} file ${f} does not exist`);
  }
  const adminUsers = r.file('ADMIN_USERS_FILE', cwd, (text, where) => {
    const parsed = parseUsersFile(text, where);
    return { problems: parsed.problems, value: parsed.users };
  });
  const actions = r.file('ACTIONS_FILE', cwd, (text, where) => {
    const parsed = parseActionsFile(text, where);
    return { problems: parsed.problems, value: parsed.actions };
  });

  const inbox = readInbox(r, production, warnings);
  const lockTtlMs = r.int('LOCK_TTL_MS', 10_000, 500, 600_000);
  const deadAfterMs = r.int('WORKER_DEAD_AFTER_MS', 2_000, 0, 600_000);
  if (deadAfterMs > 0 && deadAfterMs < 200) r.problems.push(`WORKER_DEAD_AFTER_MS=${deadAfterMs} must be 0 (off) or at least 200`);
  const config: Config = {
    production,
    role: role as Role,
    port: r.int('PORT', 3000, 0, 65535),
    // Dev mode serves an unauthenticated webhook signer (/emulator): loopback unless asked.
    host: r.str('HOST') ?? (production ? '0.0.0.0' : '127.0.0.1'),
    trustProxy: readTrustProxy(r, warnings),
    dataDir: path.resolve(cwd, r.str('DATA_DIR') ?? '.data'),
    logLevel: r.oneOf('LOG_LEVEL', LOG_LEVELS, 'info'),
    warnings,
    fb: {
      appSecret,
      ...(appId !== undefined ? { appId } : {}),
      allowSha1: r.oneOf('FB_ALLOW_SHA1', ['true', 'false'], 'true') === 'true',
      verifyToken,
      ...(defaultPageToken !== undefined ? { defaultPageToken } : {}),
      ...(pages ? { pages } : {}),
      ...(graphApiUrl !== undefined ? { graphApiUrl } : {}),
    },
    ...(channels ? { channels } : {}),
    ...(lineApiUrl !== undefined ? { lineApiUrl } : {}),
    redis,
    ...(databaseUrl !== undefined ? { databaseUrl } : {}),
    chatlog: {
      enabled: chatlogEnabled,
      shards: r.int('CHATLOG_SHARDS', 4, 1, 256),
      batchSize: r.int('CHATLOG_BATCH', 500, 1, 10_000),
      pollMs: r.int('CHATLOG_POLL_MS', 50, 1, 10_000),
      claimIdleMs: r.int('CHATLOG_CLAIM_IDLE_MS', 60_000, 100, 3_600_000),
      ...(r.str('CHATLOG_RETENTION_DAYS') !== undefined ? { retentionDays: r.int('CHATLOG_RETENTION_DAYS', 365, 1, 36_500) } : {}),
    },
    ...(adminToken !== undefined ? { adminToken } : {}),
    ...(exportIdSecret !== undefined ? { exportIdSecret } : {}),
    ...(adminUsers ? { adminUsers, adminUsersFile: path.resolve(cwd, r.str('ADMIN_USERS_FILE')!) } : {}),
    nlu: {
      ...(nluModel ? { model: files(nluModel)[0]! } : {}),
      ...(nluCorpus ? { corpus: files(nluCorpus).join(',') } : {}),
      threshold: r.float('NLU_THRESHOLD', DEFAULT_NLU_THRESHOLD, 0, 1),
      reloadMs: r.int('NLU_RELOAD_MS', 5_000, 100, 3_600_000),
    },
    bot: {
      kind: r.oneOf('BOT', ['dialog', 'echo'], 'dialog') as 'dialog' | 'echo',
      ...(actions ? { actions } : {}),
      contextTtlMs: r.int('DIALOG_CONTEXT_TTL_HOURS', 72, 1, 24 * 90) * 3_600_000,
      handoffIdleMs: r.int('HANDOFF_IDLE_MINUTES', 30, 1, 7 * 24 * 60) * 60_000,
      markSeen: r.oneOf('BOT_MARK_SEEN', ['true', 'false'], 'true') === 'true',
    },
    inbox,
    webhook: { bodyLimitBytes: r.bytes('WEBHOOK_BODY_LIMIT', 1024 * 1024) },
    http: { requestTimeoutMs: r.int('HTTP_REQUEST_TIMEOUT_MS', 10_000, 1_000, 600_000) },
    queue: {
      shards: r.int('QUEUE_SHARDS', 16, 1, 1024),
      maxPerConversation: r.int('QUEUE_MAX_PER_CONVERSATION', 1_000, 0, 1_000_000),
      maxOverflow: r.int('QUEUE_OVERFLOW_MAX', 10_000, 0, 10_000_000),
      dedupeTtlMs: r.int('DEDUPE_TTL_HOURS', 48, 48, 24 * 30) * 3_600_000,
      lockTtlMs,
      batchSize: r.int('WORKER_BATCH', 10, 1, 1_000),
      pollMs: r.int('WORKER_POLL_MS', 20, 1, 5_000),
      sweepIntervalMs: r.int('SWEEP_INTERVAL_MS', 30_000, 100, 3_600_000),
      contentionDelayMs: r.int('LOCK_CONTENTION_DELAY_MS', 100, 1, 10_000),
    },
    worker: {
      concurrency: r.int('WORKER_CONCURRENCY', 64, 1, 10_000),
      idleMs: r.int('WORKER_IDLE_MS', 1_000, 10, 60_000),
      shutdownTimeoutMs: r.int('SHUTDOWN_TIMEOUT_MS', 25_000, 100, 600_000),
      deadAfterMs,
    },
    send: {
      timeoutMs: r.int('SEND_TIMEOUT_MS', 10_000, 100, 120_000),
      maxAttempts: r.int('SEND_MAX_ATTEMPTS', 5, 1, 20),
      backoffBaseMs: r.int('SEND_BACKOFF_BASE_MS', 200, 1, 60_000),
      backoffMaxMs: r.int('SEND_BACKOFF_MAX_MS', 5_000, 1, 600_000),
      retryLaterMs: r.int('SEND_RETRY_LATER_MS', 5_000, 10, 3_600_000),
      echoGraceMs: r.int('SEND_ECHO_GRACE_MS', 5_000, 0, 600_000),
    },
  };
  if (r.problems.length) throw new ConfigError(r.problems);
  return deepFreeze(config);
}

const HTTP_URL = /^https?:\/\/[^\s]+$/;

function readInbox(r: Reader, production: boolean, warnings: string[]): Config['inbox'] {
  const webhookUrl = r.str('HANDOFF_WEBHOOK_URL');
  if (webhookUrl !== undefined && !HTTP_URL.test(webhookUrl)) r.problems.push(`HANDOFF_WEBHOOK_URL=${JSON.stringify(webhookUrl)} must be an http(s) URL`);
  const webhookSecret = r.str('HANDOFF_WEBHOOK_SECRET');
  if (webhookSecret !== undefined && webhookSecret.length < 16) r.problems.push('HANDOFF_WEBHOOK_SECRET must be at least 16 characters');
  if (webhookUrl !== undefined && webhookSecret === undefined) {
    if (production) r.problems.push('HANDOFF_WEBHOOK_SECRET is required with HANDOFF_WEBHOOK_URL when NODE_ENV=production (the receiver checks the signature)');
    else warnings.push('HANDOFF_WEBHOOK_URL is set without HANDOFF_WEBHOOK_SECRET: handoff alerts go out unsigned');
  }
  let publicUrl = r.str('PUBLIC_URL');
  if (publicUrl !== undefined) {
    if (!HTTP_URL.test(publicUrl)) r.problems.push(`PUBLIC_URL=${JSON.stringify(publicUrl)} must be an http(s) URL (this deployment's public base URL)`);
    publicUrl = publicUrl.replace(/\/+$/, '');
  }
  return {
    ...(webhookUrl !== undefined ? { webhookUrl } : {}),
    ...(webhookSecret !== undefined ? { webhookSecret } : {}),
    noticeMinutes: r.int('HANDOFF_NOTICE_MINUTES', 10, 0, 24 * 60),
    autoAssign: r.oneOf('INBOX_AUTO_ASSIGN', ['off', 'round-robin'], 'off') as 'off' | 'round-robin',
    csat: r.oneOf('CSAT_SURVEY', ['true', 'false'], 'true') === 'true',
    ...(publicUrl !== undefined ? { publicUrl } : {}),
    attachmentMaxBytes: r.bytes('ATTACHMENT_MAX_BYTES', 8 * 1024 * 1024),
  };
}

function readDatabaseUrl(r: Reader): string | undefined {
  const url = r.str('DATABASE_URL');
  if (url !== undefined && !/^postgres(ql)?:\/\/.+/.test(url)) r.problems.push('DATABASE_URL must start with postgres:// or postgresql://');
  return url;
}

export interface CliConfig {
  readonly logLevel: string;
  readonly nluThreshold: number;
  /** Where the tools write by default (`train`'s model file): writable in the image too. */
  readonly dataDir: string;
  readonly databaseUrl?: string;
}

/** What the command-line tools (`train`, `eval`, `migrate`) take from the environment, validated like the app's. */
export function loadCliConfig(env: Env = process.env, cwd = process.cwd()): CliConfig {
  const r = new Reader(env);
  const databaseUrl = readDatabaseUrl(r);
  const c: CliConfig = {
    logLevel: r.oneOf('LOG_LEVEL', LOG_LEVELS, 'warn'),
    nluThreshold: r.float('NLU_THRESHOLD', DEFAULT_NLU_THRESHOLD, 0, 1),
    dataDir: path.resolve(cwd, r.str('DATA_DIR') ?? '.data'),
    ...(databaseUrl !== undefined ? { databaseUrl } : {}),
  };
  if (r.problems.length) throw new ConfigError(r.problems);
  return c;
}
