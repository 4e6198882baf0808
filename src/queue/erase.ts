/**
 * Erasing a conversation from Redis (the right to be forgotten): every key of a conversation
 * carries its hash tag — queue, payloads, dedupe markers, reply ledger, dialog context, and
 * whatever a channel keeps there (web chat transcripts, profile caches) — so erasing is
 * "every key with this tag", found with SCAN on each master, plus its ready-index entry.
 * It first takes the conversation's lock as a worker would, so no worker is mid-event. The
 * dedupe markers stay (event ids, no content, gone within DEDUPE_TTL_HOURS): a platform's late
 * redelivery of an erased message must not be answered a second time.
 */
import crypto from 'node:crypto';
import { sleep } from '../lib/sleep';
import type { ConversationQueue } from './queue';
import { masters } from './redis';

/** `*`, `?`, `[` and `\` are glob characters in SCAN MATCH: escape them in a key. */
const glob = (s: string) => s.replace(/[*?[\]\\]/g, (c) => `\\${c}`);

async function scanAll(queue: ConversationQueue, pattern: string): Promise<string[]> {
  const found: string[] = [];
  for (const node of masters(queue.redis)) {
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 1_000);
      cursor = next;
      found.push(...keys);
    } while (cursor !== '0');
  }
  return [...new Set(found)];
}

/** Conversation keys in Redis whose last part (the user) is `user`. */
export async function conversationsOfUser(queue: ConversationQueue, user: string): Promise<string[]> {
  const keys = await scanAll(queue, `${glob(queue.keys.prefix)}:{*:${glob(user)}}:*`);
  const tags = keys.map((k) => /\{([^}]+)\}/.exec(k)?.[1]).filter((t): t is string => t?.endsWith(`:${user}`) === true);
  return [...new Set(tags)];
}

export class ConversationBusyError extends Error {
  override readonly name = 'ConversationBusyError';
  constructor(readonly context: { conversation: string; waitedMs: number }) {
    super(`conversation ${context.conversation} stayed locked by a worker for ${context.waitedMs} ms`);
  }
}

/** Deletes every Redis key of `conversation`; returns how many. Waits up to `waitMs` for a worker holding it. */
export async function eraseConversationKeys(queue: ConversationQueue, conversation: string, waitMs: number): Promise<number> {
  const k = queue.keys.conversation(conversation);
  const mine = `erase-${crypto.randomBytes(8).toString('hex')}`;
  const started = Date.now();
  while ((await queue.redis.set(k.lock, mine, 'PX', 30_000, 'NX')) !== 'OK') {
    if (Date.now() - started > waitMs) throw new ConversationBusyError({ conversation, waitedMs: Date.now() - started });
    await sleep(100);
  }
  const keys = (await scanAll(queue, `${glob(queue.keys.prefix)}:{${glob(conversation)}}:*`)).filter((key) => key !== k.seen);
  // One slot (one hash tag): a single DEL is valid on a cluster too. The lock goes with them.
  const deleted = keys.length ? await queue.redis.del(...keys) : 0;
  await queue.redis.zrem(queue.keys.ready(queue.keys.shardOf(conversation)), conversation);
  return deleted;
}
