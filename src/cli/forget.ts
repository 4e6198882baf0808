/**
 * `npm run forget -- --user ID [--channel TYPE] [--account ID] [--by NAME]`
 *
 * Erases one user's data (the right to be forgotten): their conversations in Redis (queues,
 * reply ledgers, dialog context, channel caches) and in the chatlog (messages, notes,
 * conversations), on one account, every account of a channel, or every channel. Prints the
 * deletion request's confirmation code and what was erased, as JSON. Needs the deployment's
 * Redis (REDIS_URL / REDIS_CLUSTER_NODES; in dev mode the `npm start` redis on port 6390) and
 * its chatlog database (DATABASE_URL). Exit codes: 0 done, 1 failed, 2 usage.
 */
import { parseArgs } from 'node:util';
import { isIdPart } from '../channels/conversation';
import { loadConfig, ConfigError } from '../config';
import { postgresClient } from '../chatlog/sql';
import { createLogger } from '../log';
import { Forgetter } from '../privacy/forgetter';
import { ConversationQueue } from '../queue/queue';
import { connectRedis, remoteTarget } from '../queue/redis';

export const USAGE = `usage: npm run forget -- --user ID [--channel TYPE] [--account ID] [--by NAME]

  --user      the user's id on the platform (PSID, WhatsApp number, LINE user id, web chat visitor id)
  --channel   only this channel (messenger, instagram, whatsapp, line, webchat); default: every channel
  --account   only this account (page, Instagram account, phone number id, LINE bot, site); needs --channel
  --by        who asks, for the log and the deletion record (default: the OS user)
  --help      this text

Needs DATABASE_URL (the chatlog) and the deployment's Redis. Prints {"confirmationCode", "erased"}.`;

function usage(message: string): never {
  process.stderr.write(`${message}\n\n${USAGE}\n`);
  process.exit(2);
}

export function parseForgetArgs(argv: string[]): { user: string; channel?: string; account?: string; by: string } | 'help' {
  let v;
  try {
    v = parseArgs({ args: argv, options: { user: { type: 'string' }, channel: { type: 'string' }, account: { type: 'string' }, by: { type: 'string' }, help: { type: 'boolean' } }, strict: true, allowPositionals: false }).values;
  } catch (err) {
    throw new Error((err as Error).message);
  }
  if (v.help) return 'help';
  if (!v.user) throw new Error('--user is required');
  if (!isIdPart(v.user)) throw new Error(`--user ${JSON.stringify(v.user)} is not a user id`);
  if (v.channel !== undefined && !/^[a-z][a-z0-9_-]{0,31}$/.test(v.channel)) throw new Error(`--channel ${JSON.stringify(v.channel)} is not a channel type`);
  if (v.account !== undefined && !v.channel) throw new Error('--account needs --channel');
  if (v.account !== undefined && !isIdPart(v.account)) throw new Error(`--account ${JSON.stringify(v.account)} is not an account id`);
  return { user: v.user, ...(v.channel ? { channel: v.channel } : {}), ...(v.account ? { account: v.account } : {}), by: v.by ?? `cli:${process.env.USER ?? 'unknown'}` };
}

async function main(): Promise<void> {
  let args;
  try {
    args = parseForgetArgs(process.argv.slice(2));
  } catch (err) {
    usage((err as Error).message);
  }
  if (args === 'help') return void process.stdout.write(`${USAGE}\n`);
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  if (!config.databaseUrl) usage('DATABASE_URL is required: erasure is recorded in the chatlog database (in dev mode, use the admin app’s “Erase” action while npm start runs)');
  const logger = createLogger(config.logLevel === 'info' ? 'warn' : config.logLevel);
  const redis = await connectRedis(config.redis.embedded ? { url: 'redis://127.0.0.1:6390', commandTimeoutMs: 5_000 } : remoteTarget(config.redis, 5_000), () => undefined, 'cb-forget');
  const db = postgresClient(config.databaseUrl, () => undefined);
  try {
    const queue = new ConversationQueue(redis, { prefix: config.redis.prefix, shards: config.queue.shards, dedupeTtlMs: config.queue.dedupeTtlMs, maxPerConversation: config.queue.maxPerConversation });
    const { user, channel, account, by } = args;
    process.stderr.write(`erasing ${user}${channel ? ` on ${channel}${account ? `:${account}` : ''}` : ' on every channel'}…\n`);
    const done = await new Forgetter({ queue, db, logger, lockWaitMs: config.queue.lockTtlMs * 3 }).forget({ user, ...(channel ? { channel } : {}), ...(account ? { account } : {}) }, by);
    process.stdout.write(`${JSON.stringify({ confirmationCode: done.code, conversations: done.conversations, erased: done.erased })}\n`);
  } finally {
    await db.close();
    redis.disconnect();
  }
}

if (require.main === module) {
  main().catch((err) => {
    process.stderr.write(`forget failed: ${(err as Error).message}\n`);
    process.exit(1);
  });
}
