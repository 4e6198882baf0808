/**
 * `channel-whatsapp`: end to end on WhatsApp — gateway + 2 workers + the Cloud API fake
 * (answers with wamids, posts signed `sent` and `delivered` statuses back, which confirm each
 * reply and are queued as receipts) — closed loop like e2e-max, with the same audit of the
 * promises. Each message costs three webhook POSTs here (the user's and two statuses) against
 * Messenger's two, and a receipt for the worker: the ratio to e2e-max in the same run shows
 * what that costs.
 */
import path from 'node:path';
import { conversationKey } from '../src/channels/conversation';
import { encodeLikeFacebook } from '../src/channels/meta/signature';
import { audit, waitForReplies } from '../test/helpers/pipeline';
import { startWhatsAppPipeline, WA_NUMBERS, waBody, waChange } from '../test/helpers/whatsapp';
import type { BenchServers } from './env';
import { closedLoop, quantiles, Users, type Sent } from './load';

/** Users who write on WhatsApp: one message per POST, as bench/load.ts sends Messenger's. */
class WhatsAppUsers extends Users {
  private readonly counts: number[];
  constructor(count: number) {
    super(count, WA_NUMBERS);
    this.counts = new Array(count).fill(0);
  }

  override message(u: number): { raw: string; sent: Omit<Sent, 'at'> } {
    const phone = WA_NUMBERS[u % WA_NUMBERS.length]!;
    const k = this.counts[u]!++;
    const user = `4915200${String(u).padStart(5, '0')}`;
    const mid = `wamid.bench_${user}_${k}`;
    const m = { from: user, id: mid, timestamp: String(Math.floor((this.base + k * 1_000) / 1_000)), text: { body: `message ${k} — ünïcødé` }, type: 'text' };
    const raw = encodeLikeFacebook(waBody(waChange(phone, { messages: [m], names: { [user]: `User ${u}` } })));
    return { raw, sent: { mid, key: conversationKey({ channel: 'whatsapp', account: phone, user }) } };
  }
}

export async function channelWhatsApp(s: BenchServers, quick: boolean, before: Record<string, Record<string, number>>): Promise<Record<string, number>> {
  const { p, wa, driver } = await startWhatsAppPipeline(
    'bench-whatsapp',
    { REDIS_URL: s.redis.url },
    {
      workers: 2,
      dir: path.join(s.tmp, 'whatsapp'),
      env: { SEND_ECHO_GRACE_MS: '5000', LOCK_TTL_MS: '10000', WORKER_POLL_MS: '5' },
    },
  );
  try {
    const total = quick ? 2_000 : 6_000;
    const load = await closedLoop(p.gateway.url, { clients: 32, total, users: new WhatsAppUsers(1_000) });
    const expected = new Map<string, string[]>();
    const sentAt = new Map<string, number>();
    for (const x of load.sent) {
      expected.set(x.key, [...(expected.get(x.key) ?? []), x.mid]);
      sentAt.set(x.mid, x.at);
    }
    await waitForReplies(driver, expected, 120_000);
    await new Promise((r) => setTimeout(r, 1_000)); // late duplicates show up here
    const a = audit(driver, expected);
    const latencies = wa.sent.filter((m) => m.token?.mid && sentAt.has(m.token.mid)).map((m) => m.at - sentAt.get(m.token!.mid!)!);
    const first = Math.min(...load.sent.map((x) => x.at));
    const last = Math.max(...wa.sent.map((m) => m.at));
    const rate = Math.round(load.sent.length / ((last - first) / 1000));
    const messenger = before['e2e-max']?.messages_per_s;
    const q = quantiles(latencies);
    return {
      messages: load.sent.length,
      messages_per_s: rate,
      ...(messenger ? { ratio_to_messenger_e2e_max: Number((rate / messenger).toFixed(2)) } : {}),
      e2e_ms_p50: q.p50,
      e2e_ms_p95: q.p95,
      e2e_ms_p99: q.p99,
      ack_ms_p99: quantiles(load.ackMs).p99,
      statuses_per_message: Number((wa.statusesPosted / load.sent.length).toFixed(2)),
      order_violations: a.outOfOrder,
      duplicates: a.duplicates,
      lost: a.lost,
    };
  } finally {
    await p.stop();
  }
}
