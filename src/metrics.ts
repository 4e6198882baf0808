/**
 * Prometheus metrics. One registry an app instance, so several instances (tests) never
 * collide on metric names.
 */
import client from 'prom-client';

export function createMetrics() {
  const registry = new client.Registry();
  client.collectDefaultMetrics({ register: registry });
  const reg = { registers: [registry] };
  return {
    registry,
    webhookEvents: new client.Counter({ name: 'cb_webhook_events_total', help: 'Webhook events by channel, kind and outcome', labelNames: ['channel', 'kind', 'outcome'] as const, ...reg }),
    webhookRequests: new client.Counter({ name: 'cb_webhook_requests_total', help: 'Webhook POSTs by HTTP status', labelNames: ['status'] as const, ...reg }),
    ackLatency: new client.Histogram({
      name: 'cb_webhook_ack_seconds',
      help: 'Time from receiving a webhook POST to answering it',
      buckets: [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      ...reg,
    }),
    duplicates: new client.Counter({ name: 'cb_duplicates_total', help: 'Redelivered events dropped by the dedupe, by channel', labelNames: ['channel'] as const, ...reg }),
    overflow: new client.Counter({
      name: 'cb_queue_overflow_total',
      help: "Events that had to wait in a conversation's overflow list (its queue was at QUEUE_MAX_PER_CONVERSATION); workers answer them in order as the queue drains",
      ...reg,
    }),
    overflowRefused: new client.Counter({ name: 'cb_queue_overflow_refused_total', help: 'Events refused with 503 because QUEUE_OVERFLOW_MAX events of their conversation were waiting already (the sender retries)', ...reg }),
    overflowWaiting: new client.Gauge({ name: 'cb_queue_overflow_events', help: 'Events waiting in overflow lists, over every conversation (as of the last sweep)', ...reg }),
    overflowConversations: new client.Gauge({ name: 'cb_queue_overflow_conversations', help: 'Conversations with events waiting in their overflow list (as of the last sweep)', ...reg }),
    claimRounds: new client.Counter({
      name: 'cb_claim_rounds_total',
      help: 'Polling rounds of the workers (one claim call on one server, one per shard on a cluster), by how the wait before it ended',
      labelNames: ['after'] as const,
      ...reg,
    }),
    lockContention: new client.Counter({ name: 'cb_lock_contention_total', help: 'Claims that found the conversation lock held by another worker', ...reg }),
    fenced: new client.Counter({ name: 'cb_fenced_total', help: 'Acks refused because the worker no longer held the lock', ...reg }),
    lockLost: new client.Counter({ name: 'cb_lock_lost_total', help: 'Conversation locks this worker could not extend in time (another worker may own the conversation now)', ...reg }),
    heartbeatGap: new client.Histogram({
      name: 'cb_worker_heartbeat_gap_seconds',
      help: 'Time between two heartbeats of this worker that reached Redis (Redis clock); past WORKER_DEAD_AFTER_MS it is presumed dead',
      buckets: [0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10],
      ...reg,
    }),
    presumedDead: new client.Counter({ name: 'cb_worker_presumed_dead_total', help: 'Times this worker found itself presumed dead while alive (its conversations were handed over)', ...reg }),
    deadWorkers: new client.Counter({ name: 'cb_dead_workers_total', help: 'Workers this process found silent past WORKER_DEAD_AFTER_MS and reaped', ...reg }),
    takenOver: new client.Counter({ name: 'cb_conversations_taken_over_total', help: 'Conversations of dead workers this process made claimable before their lease ran out', ...reg }),
    stage: new client.Histogram({
      name: 'cb_processing_seconds',
      help: 'Processing time by stage (queue_wait, handle, send, total)',
      labelNames: ['stage'] as const,
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      ...reg,
    }),
    processed: new client.Counter({ name: 'cb_events_processed_total', help: 'Events processed by workers, by channel and kind', labelNames: ['channel', 'kind'] as const, ...reg }),
    sends: new client.Counter({ name: 'cb_sends_total', help: 'Replies handed to a send API, by channel, each once whatever its retries (the denominator of cb_send_errors_total)', labelNames: ['channel'] as const, ...reg }),
    sendErrors: new client.Counter({ name: 'cb_send_errors_total', help: 'Send API failures by channel and platform error code', labelNames: ['channel', 'code'] as const, ...reg }),
    sendRetries: new client.Counter({ name: 'cb_send_retries_total', help: 'Send API calls retried, by channel', labelNames: ['channel'] as const, ...reg }),
    sendResumed: new client.Counter({
      name: 'cb_send_unconfirmed_total',
      help: 'Replies found half-sent after a crash, by how they were settled (echo = confirmed by the platform, resent = sent again: no confirmation in the grace time, or an idempotent channel, memory = this process knew it sent them)',
      labelNames: ['settled'] as const,
      ...reg,
    }),
    queuePending: new client.Gauge({ name: 'cb_queue_conversations_pending', help: 'Conversations with queued work (ready index size)', ...reg }),
    queueOldest: new client.Gauge({ name: 'cb_queue_oldest_ready_seconds', help: 'How long the longest-waiting ready conversation has waited', ...reg }),
    chatlogAppended: new client.Counter({ name: 'cb_chatlog_appended_total', help: 'Records appended to the chatlog stream', ...reg }),
    chatlogRows: new client.Counter({ name: 'cb_chatlog_rows_total', help: 'Chatlog message rows written, by result (inserted, updated = filled in an existing row)', labelNames: ['result'] as const, ...reg }),
    chatlogErrors: new client.Counter({ name: 'cb_chatlog_write_errors_total', help: 'Chatlog batches that failed to write (retried)', ...reg }),
    chatlogBatchSeconds: new client.Histogram({ name: 'cb_chatlog_batch_seconds', help: 'Time to write and ack one chatlog batch', buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5], ...reg }),
    chatlogStreamEntries: new client.Gauge({ name: 'cb_chatlog_stream_entries', help: 'Chatlog records waiting in the Redis stream for the chatlog role, over every shard (refreshed on scrape; every role reports the same value)', ...reg }),
    chatlogStreamBytes: new client.Gauge({ name: 'cb_chatlog_stream_bytes', help: 'Redis memory the chatlog stream shards take (MEMORY USAGE, sampled; refreshed on scrape)', ...reg }),
    chatlogLag: new client.Gauge({ name: 'cb_chatlog_lag_seconds', help: 'Age of the oldest chatlog record not yet in PostgreSQL', ...reg }),
    nluSeconds: new client.Histogram({ name: 'cb_nlu_seconds', help: 'Time to classify one message', buckets: [0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.05], ...reg }),
    nluIntents: new client.Counter({ name: 'cb_nlu_intents_total', help: 'Messages classified, by intent (None = below the threshold)', labelNames: ['intent'] as const, ...reg }),
    nluReloads: new client.Counter({ name: 'cb_nlu_model_reloads_total', help: 'Switches to a published NLU model, by result', labelNames: ['result'] as const, ...reg }),
    fallbacks: new client.Counter({ name: 'cb_dialog_fallbacks_total', help: 'Messages the bot did not understand, by what it did (fallback, offer_human, handoff)', labelNames: ['outcome'] as const, ...reg }),
    actionCalls: new client.Counter({ name: 'cb_action_calls_total', help: 'External actions run, by action and result (ok, not_found, error, timeout)', labelNames: ['action', 'result'] as const, ...reg }),
    actionSeconds: new client.Histogram({ name: 'cb_action_seconds', help: 'Time an external action took, retries included', labelNames: ['action'] as const, buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], ...reg }),
    handoffs: new client.Counter({ name: 'cb_handoff_total', help: 'Conversation mode switches, by new mode and cause', labelNames: ['mode', 'cause'] as const, ...reg }),
    expired: new client.Counter({ name: 'cb_events_expired_total', help: "Messages not answered because they were older than the channel's reply window, by channel", labelNames: ['channel'] as const, ...reg }),
    notReplicated: new client.Counter({
      name: 'cb_redis_not_replicated_total',
      help: 'Writes that did not reach REDIS_WAIT_REPLICAS replicas in time, by where (gateway: answered 503; worker: sent anyway)',
      labelNames: ['where'] as const,
      ...reg,
    }),
    passwordChecks: new client.Gauge({ name: 'cb_admin_password_checks', help: 'Admin sign-in password checks (scrypt) in this process, by state (running, waiting for a slot)', labelNames: ['state'] as const, ...reg }),
    signIns: new client.Counter({
      name: 'cb_admin_signins_total',
      help: 'Admin sign-ins by result (ok, wrong, throttled = account slowed down, limited = address over its limit, busy = too many at once, invalid)',
      labelNames: ['result'] as const,
      ...reg,
    }),
    usersReloads: new client.Counter({
      name: 'cb_admin_users_reloads_total',
      help: 'ADMIN_USERS_FILE versions read after start, by result (ok = in force, invalid = refused: the previous version stays)',
      labelNames: ['result'] as const,
      ...reg,
    }),
    sweeps: new client.Counter({ name: 'cb_sweeper_requeued_total', help: 'Conversations the sweeper returned to the ready index', ...reg }),
    redeliveries: new client.Counter({
      name: 'cb_webhook_redeliveries_total',
      help: 'Webhook events the platform marked as redelivered (LINE deliveryContext.isRedelivery), by channel; the dedupe drops those already queued',
      labelNames: ['channel'] as const,
      ...reg,
    }),
    alreadyAccepted: new client.Counter({
      name: 'cb_send_already_accepted_total',
      help: 'Sends the platform answered as already accepted (LINE: 409 for a retry key it took before), by channel: counted as sent, never delivered twice',
      labelNames: ['channel'] as const,
      ...reg,
    }),
    handoffWaitingOldest: new client.Gauge({ name: 'cb_handoff_waiting_oldest_seconds', help: 'How long the longest-waiting conversation has waited for a person (0: none waiting); refreshed on scrape, the same in every role', ...reg }),
    inboxWaiting: new client.Gauge({ name: 'cb_inbox_waiting_conversations', help: 'Conversations waiting for a person (refreshed on scrape)', ...reg }),
    inboxChanges: new client.Counter({ name: 'cb_inbox_status_changes_total', help: 'Inbox status changes made by this process, by new status and cause', labelNames: ['to', 'cause'] as const, ...reg }),
    inboxClaims: new client.Counter({ name: 'cb_inbox_claims_total', help: 'Claims of a conversation by an agent, by result (ok, conflict = someone else holds it)', labelNames: ['result'] as const, ...reg }),
    handoffAlerts: new client.Counter({ name: 'cb_handoff_alerts_total', help: 'Handoff alerts POSTed to HANDOFF_WEBHOOK_URL, by result (sent, retried, failed)', labelNames: ['result'] as const, ...reg }),
    threadControl: new client.Counter({ name: 'cb_thread_control_total', help: 'Handover Protocol calls (pass_thread_control, take_thread_control) by result', labelNames: ['op', 'result'] as const, ...reg }),
    profiles: new client.Counter({ name: 'cb_profile_fetches_total', help: 'User profile look-ups by channel and result (ok, none, error)', labelNames: ['channel', 'result'] as const, ...reg }),
    webchatSockets: new client.Gauge({ name: 'cb_webchat_sockets', help: 'Web chat sockets open on this gateway (after hello)', ...reg }),
    webchatConnections: new client.Counter({
      name: 'cb_webchat_connections_total',
      help: 'Web chat connection attempts by result (ok, unauthorized, origin, too_many, unknown_site, bad_request, draining)',
      labelNames: ['result'] as const,
      ...reg,
    }),
    webchatFrames: new client.Counter({
      name: 'cb_webchat_frames_total',
      help: 'Web chat frames from widgets by type and outcome (ok, duplicate, rate_limited, bad_frame, unavailable, queue_full)',
      labelNames: ['type', 'outcome'] as const,
      ...reg,
    }),
    webchatPushed: new client.Counter({ name: 'cb_webchat_entries_pushed_total', help: 'Transcript entries pushed to web chat sockets', ...reg }),
    webchatOutbox: new client.Counter({ name: 'cb_webchat_outbox_total', help: 'Replies written to web chat outboxes by result (appended, duplicate = a resend the outbox dropped)', labelNames: ['result'] as const, ...reg }),
    webchatNotifications: new client.Counter({ name: 'cb_webchat_notifications_total', help: 'Away notifications to web chat sites by result (sent, failed)', labelNames: ['result'] as const, ...reg }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
