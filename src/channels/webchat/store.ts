/**
 * Web chat's Redis state. Per conversation, under the conversation's hash tag (so every script
 * runs unchanged on a cluster): the transcript — one stream holding the visitor's messages and
 * the replies in the order they happened, which is the outbox replies are pushed from and the
 * history a widget loads — its dedupe markers, the visitor's rate window, open sockets
 * (leases), the "told while away" mark, cursors and typing. Globally: the key visitor tokens
 * are signed with, and the pub/sub channels that wake gateways.
 *
 * Retention: a transcript keeps its last TRANSCRIPT_MAX entries (approximately: trimmed as it
 * grows) and lives 30 days after its last entry. The chatlog (PostgreSQL) keeps everything.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Result } from 'ioredis';
import type { RedisClient } from '../../queue/redis';

declare module 'ioredis' {
  interface RedisCommander<Context> {
    wcVisitor(log: string, ids: string, rate: string, conn: string, ...argv: (string | number)[]): Result<(string | number)[], Context>;
    wcReply(log: string, ids: string, conn: string, notified: string, ...argv: (string | number)[]): Result<(string | number)[], Context>;
    wcConnect(conn: string, notified: string, now: number, member: string, until: number, max: number): Result<number[], Context>;
    wcAdvance(state: string, field: string, id: string, ttl: number): Result<string | null, Context>;
  }
}

export const TRANSCRIPT_MAX = 1_000;
export const TRANSCRIPT_TTL_MS = 30 * 24 * 3_600_000;
/** How long a socket's presence lasts without being renewed (a killed gateway's visitors go offline after this). */
export const LEASE_MS = 45_000;

const SCRIPTS: Record<string, string> = { 'visitor-4': 'wcVisitor', 'reply-4': 'wcReply', 'connect-2': 'wcConnect', 'advance-1': 'wcAdvance' };
const defined = new WeakSet<object>();

function defineScripts(client: RedisClient): void {
  if (defined.has(client)) return;
  defined.add(client);
  for (const [file, name] of Object.entries(SCRIPTS)) {
    client.defineCommand(name, { numberOfKeys: Number(file.split('-').pop()), lua: fs.readFileSync(path.join(__dirname, 'lua', `${file}.lua`), 'utf8') });
  }
}

/** A visitor's message written (or found already written), with the gateways holding a socket of the visitor; or over the rate. */
export type VisitorAppend = { kind: 'appended'; id: string; ms: number; gateways: string[] } | { kind: 'duplicate'; ms: number; gateways: string[] } | { kind: 'rate'; retryMs: number };
export interface ReplyAppend {
  duplicate: boolean;
  /** The visitor is away and has not been told of a reply yet: send one notification. */
  notify: boolean;
  /** Gateways holding a socket of the visitor. */
  gateways: string[];
}
export interface Presence {
  connections: number;
  typing: boolean;
}

/** Stream ids (`<ms>-<seq>`) in order; a malformed id sorts first. */
export function compareIds(a: string, b: string): number {
  const [am = 0, as = 0] = a.split('-').map(Number);
  const [bm = 0, bs = 0] = b.split('-').map(Number);
  return am !== bm ? am - bm : as - bs;
}
export const STREAM_ID = /^\d{1,15}-\d{1,10}$/;
const msOf = (id: string) => Number(id.slice(0, id.indexOf('-')));

export class WebchatStore {
  constructor(
    readonly redis: RedisClient,
    readonly prefix: string,
    readonly dedupeTtlMs: number,
  ) {
    defineScripts(redis);
  }

  keys(conversation: string) {
    const base = `${this.prefix}:{${conversation}}:wc`;
    return { log: `${base}:log`, ids: `${base}:ids`, rate: `${base}:rate`, conn: `${base}:conn`, notified: `${base}:notified`, state: `${base}:state`, typing: `${base}:typing` };
  }

  /** The pub/sub channel a gateway listens on. */
  gatewayChannel(gateway: string): string {
    return `${this.prefix}:wc:gw:${gateway}`;
  }

  get presenceChannel(): string {
    return `${this.prefix}:wc:presence`;
  }

  /** The visitor-token key every gateway shares: made by the first gateway that needs it. */
  async tokenKey(): Promise<Buffer> {
    const key = `${this.prefix}:wc:token-key`;
    await this.redis.set(key, crypto.randomBytes(32).toString('base64'), 'NX');
    const v = await this.redis.get(key);
    if (!v) throw new Error('the web chat token key could not be read from redis');
    return Buffer.from(v, 'base64');
  }

  async appendVisitor(conversation: string, id: string, entry: string, rate: { limit: number; windowMs: number }, now = Date.now()): Promise<VisitorAppend> {
    const k = this.keys(conversation);
    const r = await this.redis.wcVisitor(k.log, k.ids, k.rate, k.conn, now, this.dedupeTtlMs, TRANSCRIPT_MAX, TRANSCRIPT_TTL_MS, id, entry, rate.limit, rate.windowMs);
    const code = Number(r[0]);
    const gateways = r.slice(2).map(String);
    if (code === 1) return { kind: 'appended', id: String(r[1]), ms: msOf(String(r[1])), gateways };
    if (code === 2) return { kind: 'duplicate', ms: Number(r[1]), gateways };
    if (code === 3) return { kind: 'rate', retryMs: Math.max(1, Number(r[1])) };
    throw new Error(`visitor-4 answered ${JSON.stringify(r)}`);
  }

  async appendReply(conversation: string, id: string, entry: string, answers?: { id: string; entry: string }, now = Date.now()): Promise<ReplyAppend> {
    const k = this.keys(conversation);
    const r = await this.redis.wcReply(k.log, k.ids, k.conn, k.notified, now, this.dedupeTtlMs, TRANSCRIPT_MAX, TRANSCRIPT_TTL_MS, id, entry, answers?.id ?? '', answers?.entry ?? '');
    const code = Number(r[0]);
    if ((code !== 1 && code !== 2) || r.length < 3) throw new Error(`reply-4 answered ${JSON.stringify(r)}`);
    return { duplicate: code === 2, notify: Number(r[2]) === 1, gateways: r.slice(3).map(String) };
  }

  /** Entries after `after` (exclusive), oldest first. */
  async read(conversation: string, after: string, count: number): Promise<[string, string][]> {
    const rows = await this.redis.xrange(this.keys(conversation).log, `(${after}`, '+', 'COUNT', count);
    return rows.map(([id, fields]) => [id, fields[fields.indexOf('e') + 1] ?? 'null']);
  }

  /** Where a widget opening afresh starts: just before the last `count` entries ('0-0' if there are fewer), and whether older ones exist. */
  async startOf(conversation: string, count: number): Promise<{ from: string; truncated: boolean }> {
    const rows = await this.redis.xrevrange(this.keys(conversation).log, '+', '-', 'COUNT', count + 1);
    return rows.length > count ? { from: rows[count]![0], truncated: true } : { from: '0-0', truncated: false };
  }

  async connect(conversation: string, member: string, max: number, now = Date.now()): Promise<{ ok: boolean; before: number }> {
    const k = this.keys(conversation);
    const [ok, before] = await this.redis.wcConnect(k.conn, k.notified, now, member, now + LEASE_MS, max);
    return { ok: ok === 1, before: Number(before) };
  }

  /** Renews the leases of open sockets (all sent at once; one pipeline each, as a cluster wants one slot a pipeline). */
  async renew(sockets: readonly { conversation: string; member: string }[], now = Date.now()): Promise<void> {
    await Promise.all(
      sockets.map((s) => {
        const k = this.keys(s.conversation);
        return this.redis
          .pipeline()
          .zadd(k.conn, 'XX', now + LEASE_MS, s.member)
          .pexpireat(k.conn, now + LEASE_MS)
          .exec();
      }),
    );
  }

  /** A socket closed: sockets of the visitor still open. */
  async disconnect(conversation: string, member: string, now = Date.now()): Promise<number> {
    const k = this.keys(conversation);
    const [, count] = (await this.redis.pipeline().zrem(k.conn, member).zcount(k.conn, now, '+inf').exec()) ?? [];
    return Number(count?.[1] ?? 0);
  }

  async presence(conversation: string, now = Date.now()): Promise<Presence> {
    const k = this.keys(conversation);
    const [open, typing] = await Promise.all([this.redis.zcount(k.conn, now, '+inf'), this.redis.exists(k.typing)]);
    return { connections: open, typing: typing === 1 };
  }

  /** Gateways holding a socket of the visitor now. */
  async gatewaysOf(conversation: string, now = Date.now()): Promise<string[]> {
    const members = await this.redis.zrangebyscore(this.keys(conversation).conn, now, '+inf');
    return [...new Set(members.map((m) => m.slice(0, m.indexOf('|'))))];
  }

  async setTyping(conversation: string, on: boolean): Promise<void> {
    const key = this.keys(conversation).typing;
    if (on) await this.redis.set(key, '1', 'PX', 6_000);
    else await this.redis.del(key);
  }

  /** Moves a cursor (delivered, read) forward; the previous value ('' if none) when it moved. */
  async advance(conversation: string, field: 'delivered' | 'read', id: string): Promise<string | undefined> {
    const r = await this.redis.wcAdvance(this.keys(conversation).state, field, id, TRANSCRIPT_TTL_MS);
    return r === null ? undefined : String(r);
  }

  async setMark(conversation: string, field: 'seen', value: string): Promise<void> {
    const key = this.keys(conversation).state;
    await this.redis.pipeline().hset(key, field, value).pexpire(key, TRANSCRIPT_TTL_MS).exec();
  }

  async mark(conversation: string, field: 'seen'): Promise<string | undefined> {
    return (await this.redis.hget(this.keys(conversation).state, field)) ?? undefined;
  }
}
