/**
 * Where a verified webhook becomes queued events: group by conversation (keeping arrival
 * order), enqueue each conversation in one script call, and mark the conversations ready
 * (behind the enqueue on one server, after it on a cluster).
 * Resolves only when every event is in Redis; rejects if any part failed (the caller
 * answers 503 and Facebook redelivers — the dedupe makes that safe).
 */
import type { ParseResult, ParsedEvent } from '../channels/messenger/parse';
import type { PageDirectory } from '../channels/messenger/pages';
import type { Logger } from '../log';
import type { Metrics } from '../metrics';
import { EnqueueCode, QueueFullError } from '../queue/errors';
import type { ConversationQueue } from '../queue/queue';
import { oneServer } from '../queue/redis';
import type { MessageRecord } from '../chatlog/records';
import type { ChatlogStream } from '../chatlog/stream';
import type { InboundEvent, ReplyMetadata } from '../channels/messenger/types';
import { requireReplicas, type Durability } from '../queue/durability';

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
  pages: PageDirectory;
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

function echoRecord(e: InboundEvent, confirms: ReplyMetadata): MessageRecord {
  return {
    t: 'msg', pageId: e.pageId, userId: e.userId, mid: e.id, direction: 'out', kind: e.attachments ? 'attachment' : 'text',
    ...(e.text !== undefined ? { text: e.text } : {}), ...(e.attachments ? { attachments: e.attachments } : {}),
    // Facebook's time for the message: when the reply is known only from its echo (its
    // worker never saw the answer), this is the best "replied at" there is.
    replyToMid: confirms.mid, replyIndex: confirms.i, platformTs: e.timestamp, repliedAt: e.timestamp,
  };
}

export async function ingest(parsed: ParseResult, deps: IngestDeps): Promise<IngestSummary> {
  const { queue, chatlog, pages, logger, metrics } = deps;
  const summary: IngestSummary = { queued: 0, duplicates: 0, recorded: 0, overflow: 0, refused: 0, ignored: 0 };
  for (const u of parsed.unknown) {
    summary.ignored++;
    metrics.webhookEvents.inc({ kind: 'unknown', outcome: 'ignored' });
    logger.warn({ path: u.path, fields: u.keys, event: u.raw }, 'webhook event of an unknown kind: counted, not queued');
  }
  const groups = new Map<string, ParsedEvent[]>();
  for (const p of parsed.events) {
    if (!pages.serves(p.event.pageId)) {
      summary.ignored++;
      metrics.webhookEvents.inc({ kind: p.event.kind, outcome: 'unknown_page' });
      logger.warn({ page: p.event.pageId, mid: p.event.id }, 'event for a page that PAGES_FILE does not list: not queued');
      continue;
    }
    const c = queue.conversationOf(p.event);
    const list = groups.get(c);
    if (list) list.push(p);
    else groups.set(c, [p]);
  }
  const enqueuedAt = Date.now();
  const entries = [...groups];
  // Echoes of our own replies become outbound chatlog rows here (duplicates too: the chatlog
  // dedupes), so a reply is logged even if its worker died before recording it.
  const echoes = entries.flatMap(([, events]) => events.filter((p) => p.confirms).map((p) => echoRecord(p.event, p.confirms!)));
  const enqueued = Promise.all(
    entries.map(([conversation, events]) => {
      for (const p of events) p.event.enqueuedAt = enqueuedAt;
      return queue.enqueue(conversation, events);
    }),
  );
  // On one server, which runs commands in the order written, the conversations this POST
  // queues events for are marked ready right behind their enqueue, without waiting for it:
  // one round trip for a POST of user messages. On a cluster the ready shards live on other
  // nodes, so a mark could overtake its enqueue (and a worker claiming in between would find
  // the queue empty and drop the conversation): there, marks wait for the enqueues.
  const early = oneServer(queue.redis) ? new Set(entries.filter(([, events]) => events.some((p) => p.queue)).map(([c]) => c)) : new Set<string>();
  const [results] = await Promise.all([enqueued, queue.markReady(early), chatlog.append(echoes)]);
  // Then every other conversation that has work, duplicates and echoes included: if a gateway
  // died between enqueue and mark, Facebook's redelivery lands here as a duplicate and heals
  // the index; an echo wakes a conversation whose worker waits for it to settle a reply.
  await queue.markReady(results.filter((r) => r.depth + r.overflow > 0 && !early.has(r.conversation)).map((r) => r.conversation));
  metrics.chatlogAppended.inc(echoes.length);
  if (deps.durability) {
    // Duplicates too: a redelivery after a 503 here waits for the first delivery's writes.
    const written = results.flatMap((r) => [queue.keys.conversation(r.conversation).q, queue.keys.ready(queue.keys.shardOf(r.conversation))]);
    await requireReplicas(queue.redis, written, deps.durability).catch((err) => {
      metrics.notReplicated.inc({ where: 'gateway' });
      throw err;
    });
  }

  results.forEach((r, gi) => {
    const events = groups.get(r.conversation)!;
    r.codes.forEach((code, i) => {
      const e = events[i]!.event;
      const outcome = OUTCOME[code];
      summary[outcome]++;
      metrics.webhookEvents.inc({ kind: e.kind, outcome });
      if (code === EnqueueCode.Duplicate) {
        metrics.duplicates.inc();
        logger.debug({ conversation: r.conversation, mid: e.id }, 'duplicate webhook event dropped');
      } else if (code === EnqueueCode.Overflow) {
        metrics.overflow.inc();
        logger.warn({ conversation: r.conversation, mid: e.id, depth: r.depth, overflow: r.overflow }, 'conversation queue at its cap: event waits in the overflow list');
      } else if (code === EnqueueCode.Refused) {
        metrics.overflowRefused.inc();
        logger.warn({ conversation: r.conversation, mid: e.id, depth: r.depth, overflow: r.overflow }, 'conversation overflow list full (QUEUE_OVERFLOW_MAX): event refused, the POST is answered 503 so Facebook retries');
      } else {
        logger.debug({ conversation: r.conversation, mid: e.id, kind: e.kind, group: gi }, code === EnqueueCode.Queued ? 'event queued' : 'event recorded');
      }
    });
  });
  const full = results.filter((r) => r.codes.includes(EnqueueCode.Refused)).map((r) => r.conversation);
  if (full.length) throw new QueueFullError({ conversations: full, refused: summary.refused });
  return summary;
}
