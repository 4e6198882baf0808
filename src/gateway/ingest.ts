/**
 * Where parsed events of any channel become queued events: drop those of accounts this
 * deployment does not serve, group by conversation (keeping arrival order), enqueue them,
 * append the chatlog rows the gateway writes, and mark the conversations left with work ready.
 * On one server that is one ingest-n call, shared with the POSTs that arrived in the same turn
 * of the event loop; on a cluster a call per conversation, then the marks. Resolves only when
 * every event is in Redis; rejects if any part failed (the caller answers 503 and the platform
 * redelivers — the dedupe makes that safe).
 */
import type { AccountDirectory } from '../channels/accounts';
import { conversationKey } from '../channels/conversation';
import type { InboundEvent, ParsedEvent, ParseResult, ReplyRef } from '../channels/event';
import { recordOfEvent, type ChatlogRecord, type MessageRecord } from '../chatlog/records';
import type { ChatlogStream } from '../chatlog/stream';
import type { Logger } from '../log';
import type { Metrics } from '../metrics';
import { requireReplicas, type Durability } from '../queue/durability';
import { EnqueueCode, QueueFullError } from '../queue/errors';
import type { ConversationQueue, EnqueueResult, QueueItem } from '../queue/queue';

export interface IngestSummary {
  queued: number;
  duplicates: number;
  recorded: number;
  overflow: number;
  refused: number;
  ignored: number;
}

export interface IngestDeps {
  queue: ConversationQueue;
  chatlog: ChatlogStream;
  accounts: AccountDirectory;
  logger: Logger;
  metrics: Metrics;
  /** When set, the POST is acknowledged only once its events reached the replicas. */
  durability?: Durability;
}

const OUTCOME: Record<EnqueueCode, keyof IngestSummary> = {
  [EnqueueCode.Queued]: 'queued',
  [EnqueueCode.Duplicate]: 'duplicates',
  [EnqueueCode.Overflow]: 'overflow',
  [EnqueueCode.Recorded]: 'recorded',
  [EnqueueCode.Refused]: 'refused',
};

/** The outbound row a confirmation proves: logged even if the reply's worker died before recording it. */
function confirmedRecord(e: InboundEvent, confirms: ReplyRef): MessageRecord {
  return {
    t: 'msg',
    channel: e.channel,
    account: e.account,
    user: e.user,
    mid: e.mid ?? e.id,
    direction: 'out',
    kind: e.attachments ? 'attachment' : 'text',
    ...(e.text !== undefined ? { text: e.text } : {}),
    ...(e.attachments ? { attachments: e.attachments } : {}),
    // The platform's time for the message: when the reply is known only from its
    // confirmation (its worker never saw the answer), this is the best "replied at" there is.
    replyToMid: confirms.event,
    replyIndex: confirms.index,
    platformTs: e.timestamp,
    repliedAt: e.timestamp,
  };
}

/** A receipt of our own messages that names what it covers (recordOfEvent makes it a receipt record, not a message row). */
const isReceipt = (e: InboundEvent): boolean => (e.kind === 'delivery' || e.kind === 'read' || e.kind === 'failed') && (e.watermark !== undefined || (e.mids?.length ?? 0) > 0);

/** Enqueues the events of one verified request (a webhook POST, a web chat frame). */
export async function ingest(parsed: ParseResult, deps: IngestDeps): Promise<IngestSummary> {
  const { queue, chatlog, accounts, logger, metrics } = deps;
  const summary: IngestSummary = { queued: 0, duplicates: 0, recorded: 0, overflow: 0, refused: 0, ignored: 0 };
  for (const u of parsed.unknown) {
    summary.ignored++;
    metrics.webhookEvents.inc({ channel: 'unknown', kind: 'unknown', outcome: 'ignored' });
    logger.warn({ path: u.path, fields: u.keys, event: u.raw }, 'webhook event of an unknown kind: counted, not queued');
  }
  const groups = new Map<string, ParsedEvent[]>();
  for (const p of parsed.events) {
    const e = p.event;
    if (!accounts.serves(e.channel, e.account)) {
      summary.ignored++;
      metrics.webhookEvents.inc({ channel: e.channel, kind: e.kind, outcome: 'unknown_account' });
      logger.warn({ channel: e.channel, account: e.account, mid: e.id }, 'event for an account this deployment does not serve (CHANNELS_FILE / PAGES_FILE): not queued');
      continue;
    }
    const c = conversationKey(e);
    const list = groups.get(c);
    if (list) list.push(p);
    else groups.set(c, [p]);
  }
  const enqueuedAt = Date.now();
  const entries = [...groups];
  // Confirmations of our own replies become outbound chatlog rows here (duplicates too: the
  // chatlog dedupes), so a reply is logged even if its worker died before recording it.
  const recorded: ChatlogRecord[] = entries.flatMap(([, events]) => events.filter((p) => p.confirms).map((p) => confirmedRecord(p.event, p.confirms!)));
  // Receipts an adapter does not queue (WhatsApp statuses: no worker needed) are recorded here,
  // behind the confirmation rows of the same POST: same shard, so the row is there before them.
  recorded.push(...entries.flatMap(([, events]) => events.filter((p) => !p.queue && isReceipt(p.event)).map((p) => recordOfEvent(p.event))));
  const items = (events: ParsedEvent[]) =>
    events.map((p) => {
      p.event.enqueuedAt = enqueuedAt;
      return { id: p.event.id, timestamp: p.event.timestamp, payload: JSON.stringify(p.event), queue: p.queue, ...(p.confirms ? { confirms: p.confirms } : p.confirmsKey ? { confirmsKey: p.confirmsKey } : {}) };
    });
  const results =
    entries.length === 0
      ? []
      : queue.oneServer
        ? await queue.ingest(
            entries.map(([conversation, events]) => ({ conversation, events: items(events) })),
            chatlog.entries(recorded),
          )
        : await enqueueApart(
            entries.map(([conversation, events]) => [conversation, items(events)]),
            recorded,
            deps,
          );
  metrics.chatlogAppended.inc(recorded.length);
  if (deps.durability) {
    // Duplicates too: a redelivery after a 503 here waits for the first delivery's writes.
    const written = results.flatMap((r) => [queue.keys.conversation(r.conversation).q, queue.keys.ready(queue.keys.shardOf(r.conversation))]);
    await requireReplicas(queue.redis, written, deps.durability).catch((err) => {
      metrics.notReplicated.inc({ where: 'gateway' });
      throw err;
    });
  }
  count(results, groups, summary, deps);
  const full = results.filter((r) => r.codes.includes(EnqueueCode.Refused)).map((r) => r.conversation);
  if (full.length) throw new QueueFullError({ conversations: full, refused: summary.refused });
  return summary;
}

/**
 * On a cluster (ingest-n's keys span slots): each conversation's enqueue-6 and the records'
 * append at once, then the marks of every conversation left with work, after its enqueue (the
 * ready shards live on other nodes, so a mark could overtake its enqueue, and a worker claiming
 * in between would find the queue empty and drop the conversation). Duplicates and
 * confirmations included: if a gateway died between enqueue and mark, the platform's
 * redelivery lands here as a duplicate and heals the index; a confirmation wakes a
 * conversation whose worker waits for it.
 */
async function enqueueApart(entries: [string, QueueItem[]][], recorded: ChatlogRecord[], { queue, chatlog }: IngestDeps): Promise<EnqueueResult[]> {
  const [results] = await Promise.all([Promise.all(entries.map(([conversation, items]) => queue.enqueue(conversation, items))), chatlog.append(recorded)]);
  await queue.markReady(results.filter((r) => r.depth + r.overflow > 0).map((r) => r.conversation));
  return results;
}

function count(results: { conversation: string; codes: EnqueueCode[]; depth: number; overflow: number }[], groups: Map<string, ParsedEvent[]>, summary: IngestSummary, { logger, metrics }: IngestDeps): void {
  for (const r of results) {
    const events = groups.get(r.conversation)!;
    r.codes.forEach((code, i) => {
      const e = events[i]!.event;
      const outcome = OUTCOME[code];
      summary[outcome]++;
      metrics.webhookEvents.inc({ channel: e.channel, kind: e.kind, outcome });
      if (code === EnqueueCode.Duplicate) {
        metrics.duplicates.inc({ channel: e.channel });
        logger.debug({ conversation: r.conversation, mid: e.id }, 'duplicate event dropped');
      } else if (code === EnqueueCode.Overflow) {
        metrics.overflow.inc();
        logger.warn({ conversation: r.conversation, mid: e.id, depth: r.depth, overflow: r.overflow }, 'conversation queue at its cap: event waits in the overflow list');
      } else if (code === EnqueueCode.Refused) {
        metrics.overflowRefused.inc();
        logger.warn({ conversation: r.conversation, mid: e.id, depth: r.depth, overflow: r.overflow }, 'conversation overflow list full (QUEUE_OVERFLOW_MAX): event refused, the request is answered 503 so the platform retries');
      } else {
        logger.debug({ conversation: r.conversation, mid: e.id, kind: e.kind }, code === EnqueueCode.Queued ? 'event queued' : 'event recorded');
      }
    });
  }
}
