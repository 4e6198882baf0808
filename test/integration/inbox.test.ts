/**
 * The agent inbox through its HTTP API on a real app (real Redis, PostgreSQL, the dialog bot and
 * the Graph API fake): a handoff reaches the waiting queue, the app's live stream and the team's
 * webhook (signed) within 2 s; claiming is exclusive; the Handover Protocol calls go out in the
 * conversation's order; staff answering from the Page Inbox silence the bot; a resolve sends the
 * survey and its answer lands in the KPIs; a user nobody claims is told when to expect an answer.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { signBody } from '../../src/inbox/alerts';
import { InboxJanitor } from '../../src/inbox/janitor';
import { Presence } from '../../src/inbox/presence';
import { Inbox } from '../../src/inbox/service';
import { InboxStore } from '../../src/inbox/state';
import { createLogger } from '../../src/log';
import { PAGE_INBOX_APP_ID } from '../../src/dev/fake-graph-handover';
import { startAdminApp } from '../helpers/admin';
import { tmpDir } from '../helpers/env';
import { alertReceiver, liveEvents } from '../helpers/inbox';
import { post } from '../helpers/fb';
import { igBody, igEcho } from '../helpers/instagram';
import { sleep, waitUntil } from '../helpers/wait';

const SECRET = 'handoff-secret-0123456789';
const IG = '17841400000000201';
const IG_QUIET = '17841400000000202';
const WA = '106540352242301';

describe('agent inbox API', { timeout: 240_000 }, () => {
  let app: Awaited<ReturnType<typeof startAdminApp>>;
  let hook: Awaited<ReturnType<typeof alertReceiver>>;
  let ann: string;
  let cat: string;
  before(async () => {
    hook = await alertReceiver(1);
    const dir = tmpDir('inbox-channels');
    const channels = path.join(dir, 'channels.json');
    fs.writeFileSync(
      channels,
      JSON.stringify({
        channels: [
          { type: 'messenger', id: '101', name: 'Shop', accessToken: 'token-101', pageInbox: true },
          { type: 'messenger', id: '102', accessToken: 'token-102' },
          { type: 'instagram', id: IG, accessToken: 'ig-token-201' },
          { type: 'instagram', id: IG_QUIET, accessToken: 'ig-token-202', staffEchoes: false },
          { type: 'whatsapp', id: WA, accessToken: 'wa-token-301' },
        ],
      }),
    );
    app = await startAdminApp('inboxapi', {
      CHANNELS_FILE: channels,
      PAGES_FILE: '',
      HANDOFF_WEBHOOK_URL: hook.url,
      HANDOFF_WEBHOOK_SECRET: SECRET,
      HANDOFF_NOTICE_MINUTES: '10',
      SEND_TIMEOUT_MS: '400',
      SEND_ECHO_GRACE_MS: '400',
    });
    [ann, cat] = await Promise.all([app.signIn('ann'), app.signIn('cat')]);
  });
  after(async () => {
    await app?.stop();
    await hook?.close();
  });

  const calls = (user: string) => app.fakeGraph!.calls.filter((c) => c.recipientId === user && c.body.message !== undefined).map((c) => `send: ${c.text ?? '[attachment]'}`);
  const threadCalls = (user: string) => app.fakeGraph!.threads.calls.filter((c) => c.recipientId === user && c.ok).map((c) => c.op);

  test("a handoff: waiting in the queue, on the live stream and at the webhook (signed, retried) within 2 s; the thread passed to the Page Inbox after the bot's last word", async () => {
    const live = liveEvents(app.url, ann);
    await live.ready;
    const t0 = Date.now();
    await app.say('101', 'u-wait', 'I want to talk to a real person');
    const event = (await waitUntil('the live inbox event', () => live.events.find((e) => e.key === '101:u-wait' && e.to === 'waiting'), 5_000))!;
    assert.ok((event.receivedAt as number) - t0 < 2_000, `live event after ${(event.receivedAt as number) - t0} ms`);
    const alert = (await waitUntil('the webhook call', () => hook.received.find((r) => r.body.includes('101:u-wait')), 5_000))!;
    assert.ok(alert.at - t0 < 2_500, `webhook after ${alert.at - t0} ms (one retry included)`);
    assert.equal(alert.headers['x-chatbot-signature'], signBody(alert.body, SECRET), 'signed over the exact body');
    const slack = JSON.parse(alert.body);
    assert.match(slack.text, /asked for a person/);
    assert.equal(slack.blocks[0].type, 'section');
    live.stop();

    const queue = await app.api('/inbox/waiting', { token: ann });
    assert.deepEqual(
      queue.json.items.map((i: { key: string }) => i.key),
      ['101:u-wait'],
    );
    assert.ok(queue.json.items[0].waitedMs >= 0);
    assert.equal((await app.api('/inbox/waiting', { token: await app.signIn('bob') })).json.items.length, 0, 'an agent of page 102 does not see it');

    await waitUntil('pass_thread_control', () => threadCalls('u-wait').includes('pass_thread_control'), 5_000);
    assert.equal(app.fakeGraph!.threads.owner('101', 'u-wait'), PAGE_INBOX_APP_ID);
    const sends = app.fakeGraph!.calls.filter((c) => c.recipientId === 'u-wait' && c.body.message !== undefined);
    assert.equal(sends.length, 1, 'the bot said one thing: that a person will answer');
  });

  test('claiming is exclusive: the second agent gets 409 with who holds it; the agent reply takes the thread back first, in order', async () => {
    const first = await app.api('/conversations/101:u-wait/claim', { token: ann, json: {} });
    assert.equal(first.status, 200);
    assert.equal(first.json.agent, 'ann');
    const second = await app.api('/conversations/101:u-wait/claim', { token: cat, json: {} });
    assert.equal(second.status, 409);
    assert.equal(second.json.agent, 'ann');
    assert.match(second.json.error, /ann holds this conversation/);
    assert.equal((await app.api('/conversations/101:u-wait/reply', { token: cat, json: { text: 'me too' } })).status, 409, 'nor can the other agent reply');
    assert.equal((await app.api('/inbox/waiting', { token: ann })).json.items.length, 0, 'no longer waiting');

    assert.equal((await app.api('/conversations/101:u-wait/reply', { token: ann, json: { text: 'Hi, Ann here.' } })).status, 202);
    await waitUntil('the agent reply', () => calls('u-wait').includes('send: Hi, Ann here.'), 10_000);
    assert.deepEqual(threadCalls('u-wait'), ['pass_thread_control', 'take_thread_control'], 'taken back before our agent spoke');
    const history = await waitUntil(
      'the status history',
      async () => {
        const h = (await app.api('/conversations/101:u-wait/inbox', { token: ann })).json.history as { to: string; by: string; cause: string }[];
        return h.length >= 2 ? h : undefined;
      },
      10_000,
    );
    assert.deepEqual(
      history!.slice(0, 2).map((h) => [h.to, h.by, h.cause]),
      [
        ['assigned', 'ann', 'claim'],
        ['waiting', 'bot', 'intent'],
      ],
    );
  });

  test("staff answering from the Page Inbox put the conversation in a person's hands: the bot stays quiet until the thread comes back", async () => {
    await app.say('101', 'u-staff', 'hello');
    const before = calls('u-staff').length;
    await app.fakeGraph!.staffReply('101', 'u-staff', 'Hi, this is Pat from the shop');
    await waitUntil('assigned to the page inbox', async () => (await app.api('/conversations/101:u-staff/inbox', { token: ann })).json.agent === 'page inbox', 10_000);
    await app.say('101', 'u-staff', 'thanks Pat, where is my order?');
    assert.equal(calls('u-staff').length, before, 'the bot did not talk over the staff');
    await app.fakeGraph!.inboxPassesBack('101', 'u-staff');
    await waitUntil('back with the bot', async () => (await app.api('/conversations/101:u-staff/inbox', { token: ann })).json.status === 'bot', 10_000);
    await app.say('101', 'u-staff', 'hello again');
    await waitUntil('the bot answers again', () => calls('u-staff').length > before, 10_000);
  });

  test('resolve sends the 1-5 survey; the answer lands in the KPIs with the agent; containment and handoff rate count it', async () => {
    assert.equal((await app.api('/conversations/101:u-wait/resolve', { token: ann, json: {} })).status, 200);
    await waitUntil('the survey', () => app.fakeGraph!.calls.some((c) => c.recipientId === 'u-wait' && /rate the help/.test(c.text ?? '')), 10_000);
    const survey = app.fakeGraph!.calls.find((c) => c.recipientId === 'u-wait' && /rate the help/.test(c.text ?? ''))!;
    const payloads = (survey.body.message as { quick_replies: { payload: string }[] }).quick_replies.map((q) => q.payload);
    assert.deepEqual(payloads, ['CSAT:1', 'CSAT:2', 'CSAT:3', 'CSAT:4', 'CSAT:5']);
    const { post, body } = await import('../helpers/fb');
    await post(app.url, body([{ sender: { id: 'u-wait' }, recipient: { id: '101' }, timestamp: Date.now(), message: { mid: 'm-csat-5', text: '5 ★★★★★', quick_reply: { payload: 'CSAT:5' } } }]));
    const kpis = await waitUntil(
      'the answer in the KPIs',
      async () => {
        const k = (await app.api('/kpis', { token: ann })).json;
        return k.csat.count === 1 ? k : undefined;
      },
      10_000,
    );
    assert.equal(kpis.csat.average, 5);
    assert.equal(kpis.agents.find((a: { agent: string }) => a.agent === 'ann').csatAverage, 5);
    assert.equal(kpis.resolution.count, 1);
    assert.equal(kpis.firstAgentReply.count, 1);
    assert.ok(kpis.handoffRate > 0 && kpis.containment < 1 && kpis.handoffRate + kpis.containment === 1);
    assert.ok(calls('u-wait').some((t) => /Thank you for your feedback/.test(t)));
  });

  test('nobody claims in HANDOFF_NOTICE_MINUTES: the user gets one message saying when to expect an answer, whatever the leader job does twice', async () => {
    await app.say('102', 'u-late', 'can I speak to a human please');
    await waitUntil('waiting', async () => (await app.api('/conversations/102:u-late/inbox')).json.status === 'waiting', 10_000);
    const logger = createLogger('silent');
    const inbox = new Inbox(new InboxStore(app.redis, app.prefix), { logger });
    const janitor = new InboxJanitor(inbox, app.queue, new Presence(app.redis, app.prefix), { noticeMs: 10 * 60_000, roundRobin: false, serves: () => true }, logger);
    const later = Date.now() + 11 * 60_000;
    await janitor.tick(later);
    await new InboxJanitor(inbox, app.queue, new Presence(app.redis, app.prefix), { noticeMs: 10 * 60_000, roundRobin: false, serves: () => true }, logger).tick(later + 1_000);
    await waitUntil('the notice', () => calls('u-late').some((t) => /Thanks for waiting/.test(t)), 10_000);
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(calls('u-late').filter((t) => /Thanks for waiting/.test(t)).length, 1, 'sent once');
  });

  test("only agents and admins are present (round-robin candidates): a viewer's heartbeat is refused", async () => {
    const vic = await app.signIn('vic');
    assert.equal((await app.api('/inbox/presence', { token: vic, json: { status: 'online' } })).status, 403);
    assert.equal((await app.api('/inbox/presence', { token: ann, json: { status: 'online' } })).status, 200);
    const names = (await app.api('/inbox/agents', { token: ann })).json.items.map((a: { name: string }) => a.name);
    assert.ok(names.includes('ann') && !names.includes('vic'), names.join(','));
  });

  test("Instagram: a message the account's people send from the Instagram app puts the conversation in a person's hands; the echoes of our own replies, also after a send retried, never do", async () => {
    const ig = app.fakeInstagram!;
    const inboxOf = async (account: string, user: string) => (await app.api(`/conversations/instagram:${account}:${user}/inbox`)).json;
    const replies = (user: string) => ig.sentTo(user).map((c) => c.text);
    // The bot's first reply: Instagram never answers the first try (nothing went out), the worker
    // sends it again; then the first try's echo comes late after all, as if it had gone out too.
    app.fakeGraph!.failNext(1, { kind: 'timeout' });
    await ig.sendAsUser(IG, 'ig-u', 'hello');
    await waitUntil('the reply sent again', () => replies('ig-u').length === 1, 15_000);
    const reply = replies('ig-u')[0]!;
    await sleep(500); // its echo
    assert.equal((await post(app.url, igBody([igEcho(IG, 'ig-u', Date.now() - 1_000, 'm-late-echo', reply)]))).status, 200);
    await ig.sendAsUser(IG, 'ig-u', 'what are your hours?');
    await waitUntil('the bot answers on', () => replies('ig-u').length === 2, 10_000);
    assert.equal((await inboxOf(IG, 'ig-u')).status, 'bot', 'the echoes of our replies, the late one included, are ours');

    // The same text as the bot's, but from a person: the bot sent it once and its echo came.
    await ig.staffSends(IG, 'ig-u', reply);
    await waitUntil("assigned to the account's people", async () => (await inboxOf(IG, 'ig-u')).agent === 'page inbox', 10_000);
    await ig.sendAsUser(IG, 'ig-u', 'thanks, and where is my order?');
    await sleep(1_500);
    assert.equal(replies('ig-u').length, 2, 'the bot did not talk over the person');

    // "staffEchoes": false: the account's people's messages change nothing.
    await ig.sendAsUser(IG_QUIET, 'ig-q', 'hello');
    await waitUntil('the bot answers', () => replies('ig-q').length === 1, 10_000);
    await ig.staffSends(IG_QUIET, 'ig-q', 'Hi, Pat here');
    await ig.sendAsUser(IG_QUIET, 'ig-q', 'hi Pat');
    await waitUntil('the bot answers on', () => replies('ig-q').length === 2, 10_000);
    assert.equal((await inboxOf(IG_QUIET, 'ig-q')).status, 'bot');
  });

  test("WhatsApp: an agent typing in the inbox shows the typing indicator, sent with marking the user's latest message read; erased with the conversation", async () => {
    const wa = app.fakeWhatsApp!;
    const key = `whatsapp:${WA}:4915100000301`;
    const typingReads = () => wa.reads.filter((r) => r.typing && r.phoneNumberId === WA);
    await wa.sendUserMessage({ phoneNumberId: WA, user: '4915100000301', text: 'hello' });
    await waitUntil('the bot answers', () => wa.messagesTo('4915100000301').length === 1, 10_000);
    const { wamid } = await wa.sendUserMessage({ phoneNumberId: WA, user: '4915100000301', text: 'what are your hours?' });
    await waitUntil('the bot answers again', () => wa.messagesTo('4915100000301').length === 2, 10_000);
    const before = typingReads().length;
    assert.equal((await app.api(`/conversations/${key}/typing`, { json: {} })).status, 202);
    await waitUntil('the typing indicator', () => typingReads().length > before, 5_000);
    assert.deepEqual(
      typingReads()
        .slice(before)
        .map((r) => r.messageId),
      [wamid],
      "about the user's latest message",
    );

    assert.equal((await app.api(`/conversations/${key}/forget`, { json: {} })).status, 200);
    assert.equal(await app.redis.exists(`${app.prefix}:{${key}}:latest-in`), 0, 'erased with the conversation');
    await sleep(3_100); // past the typing throttle
    assert.equal((await app.api(`/conversations/${key}/typing`, { json: {} })).status, 202);
    await sleep(500);
    assert.equal(typingReads().length, before + 1, "no message of the user's left to name: nothing sent");
  });
});
