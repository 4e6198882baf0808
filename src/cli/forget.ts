/**
 * `forget`: erases one user's data (the right to be forgotten) — their conversations in
 * Redis (queues, reply ledgers, dialog context, channel caches) and in the chatlog (messages,
 * notes, conversations), on one account, every account of a channel, or every channel — and
 * prints the deletion request's confirmation code and what was erased, as JSON. The admin
 * app's action and Meta's data-deletion callback do the same (src/privacy/forgetter.ts).
 */
import os from 'node:os';
import { isIdPart } from '../channels/conversation';
import { postgresClient } from '../chatlog/sql';
import { ConfigError, loadConfig } from '../config';
import { createLogger } from '../log';
import { Forgetter } from '../privacy/forgetter';
import { ConversationQueue } from '../queue/queue';
import { connectRedis, remoteTarget } from '../queue/redis';
import { CommandError, EXIT_OK, main, parseCommandLine, UsageError, type Command } from './command';

const USAGE = `usage: ordered-chatbot forget --user ID [--channel TYPE [--account ID]] [--by NAME]

Erases one user's data everywhere this deployment holds it: queued events, reply ledgers,
dialog context and channel caches in Redis; messages, notes and conversations in the chatlog
(a tombstone keeps records still on their way from bringing them back). Prints
{"confirmationCode", "conversations", "erased"}.

  --user ID       the user's id on the platform (PSID, WhatsApp number, LINE user id, web chat visitor id)
  --channel TYPE  only this channel (messenger, instagram, whatsapp, line, webchat); default: every channel
  --account ID    only this account (page, Instagram account, phone number id, LINE bot, site); needs --channel
  --by NAME       who asks, for the log and the deletion record (default: cli:<the OS user>)
  -h, --help      this text

Needs DATABASE_URL (the chatlog) and the deployment's Redis (REDIS_URL / REDIS_CLUSTER_NODES;
in dev mode the redis of a running npm start). In dev mode without DATABASE_URL, use the admin
app's erase action instead.
Exit: 0 done (erased), 1 failed (settings, Redis or PostgreSQL unreachable, a worker held the conversation too long), 2 usage.`;

export interface ForgetArgs {
  user: string;
  channel?: string;
  account?: string;
  by: string;
}

export function forgetArgs(values: Record<string, unknown>): ForgetArgs {
  const { user, channel, account, by } = values as { user?: string; channel?: string; account?: string; by?: string };
  if (!user) throw new UsageError('--user is required');
  if (!isIdPart(user)) throw new UsageError(`--user ${JSON.stringify(user)} is not a user id`);
  if (channel !== undefined && !/^[a-z][a-z0-9_-]{0,31}$/.test(channel)) throw new UsageError(`--channel ${JSON.stringify(channel)} is not a channel type`);
  if (account !== undefined && channel === undefined) throw new UsageError('--account needs --channel');
  if (account !== undefined && !isIdPart(account)) throw new UsageError(`--account ${JSON.stringify(account)} is not an account id`);
  return { user, ...(channel ? { channel } : {}), ...(account ? { account } : {}), by: by ?? `cli:${os.userInfo().username}` };
}

async function run(argv: readonly string[]): Promise<number> {
  const { values, help } = parseCommandLine(argv, { user: { type: 'string' }, channel: { type: 'string' }, account: { type: 'string' }, by: { type: 'string' } });
  if (help) {
    process.stdout.write(`${USAGE}\n`);
    return EXIT_OK;
  }
  const args = forgetArgs(values);
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) throw new CommandError(err.message);
    throw err;
  }
  if (!config.databaseUrl) throw new CommandError('DATABASE_URL is not set: erasure is recorded in the chatlog database (in dev mode, use the admin app’s erase action while npm start runs)');
  const redis = await connectRedis(config.redis.embedded ? { url: 'redis://127.0.0.1:6390', commandTimeoutMs: 5_000 } : remoteTarget(config.redis, 5_000), () => undefined, 'cb-forget').catch((err: Error) => {
    throw new CommandError(`Redis: ${err.message}`);
  });
  const db = postgresClient(config.databaseUrl, () => undefined);
  try {
    const queue = new ConversationQueue(redis, { prefix: config.redis.prefix, shards: config.queue.shards, dedupeTtlMs: config.queue.dedupeTtlMs, maxPerConversation: config.queue.maxPerConversation });
    const where = args.channel ? `on ${args.channel}${args.account ? ` account ${args.account}` : ''}` : 'on every channel';
    process.stderr.write(`forget: erasing user ${args.user} ${where}…\n`);
    const logger = createLogger(config.logLevel === 'info' ? 'warn' : config.logLevel);
    const done = await new Forgetter({ queue, db, logger, lockWaitMs: config.queue.lockTtlMs * 3 })
      .forget({ user: args.user, ...(args.channel ? { channel: args.channel } : {}), ...(args.account ? { account: args.account } : {}) }, args.by)
      .catch((err: Error) => {
        throw new CommandError(err.message);
      });
    console.log(JSON.stringify({ confirmationCode: done.code, conversations: done.conversations, erased: done.erased }));
    return EXIT_OK;
  } finally {
    await db.close();
    redis.disconnect();
  }
}

export const forgetCommand: Command = { name: 'forget', usage: USAGE, run };

if (require.main === module) main(forgetCommand);
