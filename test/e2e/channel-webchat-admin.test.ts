/**
 * Web chat in the admin app: conversations listed like any channel's, the visitor's presence
 * and typing live, and agents taking over, replying and handing back as on Messenger. The
 * admin test app runs in dev mode's account set, so it has the dev web chat site.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { nodeWidget } from '../../src/dev/fake-webchat';
import { PASSWORD, startAdminApp } from '../helpers/admin';
import { launchChromium } from '../helpers/browser';
import { sleep, waitUntil } from '../helpers/wait';
import { auditShown } from '../helpers/webchat';

const SITE = 'dev-site';

describe('web chat in the admin app', { timeout: 180_000 }, () => {
  let app: Awaited<ReturnType<typeof startAdminApp>>;
  let browser: Browser;
  before(async () => {
    [app, browser] = await Promise.all([startAdminApp('wcadmin'), launchChromium()]);
  });
  after(async () => {
    await browser?.close();
    await app?.stop();
  });
  const visitor = () => {
    const w = nodeWidget({ baseUrl: app.url, site: SITE, origin: 'http://localhost:8080' });
    w.connect();
    return w;
  };
  const texts = (w: ReturnType<typeof visitor>) => w.entries.map((x) => `${x.e.f}: ${x.e.text ?? x.e.body?.text}`);

  test('listed and shown like any channel; presence by API and on the live feed, scoped; take over, reply, hand back', async () => {
    const w = visitor();
    w.send('hello');
    await waitUntil('the bot answered', () => w.entries.some((x) => x.e.f === 'bot'), 15_000);
    const key = `webchat:${SITE}:${w.visitor}`;
    await waitUntil('in the chatlog', async () => (await app.api(`/conversations?channel=webchat`)).json.items?.some((c: { key: string }) => c.key === key), 15_000);
    const view = await app.api(`/conversations/${encodeURIComponent(key)}`);
    assert.equal(view.status, 200);
    assert.deepEqual(
      view.json.messages.slice(0, 2).map((m: { direction: string; text: string }) => m.direction),
      ['in', 'out'],
    );
    assert.equal(view.json.messages[0].text, 'hello');

    // The widget's acknowledgements become the reply's delivery and read times in the chatlog.
    const rid = w.entries.find((x) => x.e.f === 'bot')!.e.rid!;
    const times = async () => (await app.db!.query<{ delivered_at: unknown; read_at: unknown }>('SELECT delivered_at, read_at FROM messages WHERE mid = $1', [rid]))[0];
    await waitUntil('delivered_at', async () => (await times())?.delivered_at, 15_000);
    assert.equal((await times())!.read_at, null, 'not read while the panel is closed');
    w.setVisible(true);
    await waitUntil('read_at', async () => (await times())?.read_at, 15_000);

    assert.deepEqual((await app.api(`/conversations/${encodeURIComponent(key)}/presence`)).json, { online: true, typing: false, connections: 1 });
    const bob = await app.signIn('bob');
    assert.equal((await app.api(`/conversations/${encodeURIComponent(key)}/presence`, { token: bob })).status, 404, "another account's agent learns nothing");
    assert.equal((await app.api('/conversations/101:someone/presence')).status, 404, 'Messenger has no presence');

    // The live feed carries presence changes.
    const ctrl = new AbortController();
    const res = await fetch(`${app.url}/admin/api/live`, { headers: { authorization: `Bearer ${await app.signIn('root')}` }, signal: ctrl.signal });
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    let feed = '';
    const pump = (async () => {
      for (;;) {
        const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true }));
        if (done) return;
        feed += value;
      }
    })();
    await sleep(200);
    w.setTyping(true);
    await waitUntil('typing on the feed', () => feed.includes('event: presence') && feed.includes('"typing":true'), 10_000);
    assert.match(feed, new RegExp(`"key":"${key}"`));
    ctrl.abort();
    await pump;

    // Take over: the bot stays quiet, the agent's reply reaches the visitor, hand back: the bot answers again.
    assert.equal((await app.api(`/conversations/${encodeURIComponent(key)}/takeover`, { json: {} })).status, 202);
    await waitUntil('human mode', async () => (await app.api(`/conversations/${encodeURIComponent(key)}/state`)).json.mode === 'human', 10_000);
    const quiet = w.send('is anyone there?')!;
    await sleep(1_000);
    assert.ok(!w.entries.some((x) => x.e.re === quiet), 'the bot does not talk over the agent');
    assert.equal((await app.api(`/conversations/${encodeURIComponent(key)}/reply`, { json: { text: 'Hi, Root from the team here.' } })).status, 202);
    await waitUntil('the agent reply shown', () => w.entries.some((x) => x.e.f === 'agent' && x.e.body?.text === 'Hi, Root from the team here.'), 15_000);
    assert.equal((await app.api(`/conversations/${encodeURIComponent(key)}/release`, { json: {} })).status, 202);
    const back = w.send('thanks, bye')!;
    await waitUntil('the bot answers again', () => w.entries.some((x) => x.e.f === 'bot' && x.e.re === back), 15_000);
    const shown = texts(w);
    assert.ok(shown.indexOf('agent: Hi, Root from the team here.') > shown.indexOf('visitor: is anyone there?'));
    w.stop();
    await waitUntil('offline', async () => !(await app.api(`/conversations/${encodeURIComponent(key)}/presence`)).json.online);
  });

  test('in the browser: an agent sees the visitor online and typing, types back, replies; the visitor sees it all', async () => {
    const w = visitor();
    const first = w.send('I need help with my order')!;
    await waitUntil('answered', () => w.entries.some((x) => x.e.re === first), 15_000);
    const key = `webchat:${SITE}:${w.visitor}`;
    await waitUntil('in the chatlog', async () => (await app.api(`/conversations?channel=webchat`)).json.items?.some((c: { key: string }) => c.key === key), 15_000);
    const page = await browser.newPage({ viewport: { width: 1280, height: 820 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${app.url}/admin`);
    await page.getByTestId('signin-user').fill('root');
    await page.getByTestId('signin-password').fill(PASSWORD);
    await page.getByTestId('signin-submit').click();
    await page.getByTestId('conversation').filter({ hasText: w.visitor! }).click();
    await page.getByTestId('msg-user').filter({ hasText: 'I need help with my order' }).waitFor();
    await page.getByTestId('presence').filter({ hasText: 'online' }).waitFor();
    w.setTyping(true);
    await page.getByTestId('presence').filter({ hasText: 'typing…' }).waitFor({ timeout: 10_000 });
    await page.getByTestId('reply-text').fill('Let me check that for you.');
    await waitUntil('the visitor sees the agent typing', () => w.typing?.by === 'agent', 10_000);
    await page.getByTestId('takeover').click();
    await page.getByTestId('mode').filter({ hasText: 'human' }).waitFor({ timeout: 15_000 });
    await page.getByTestId('reply-text').fill('Let me check that for you.');
    await page.getByTestId('reply-send').click();
    await waitUntil('the visitor gets the agent reply', () => w.entries.some((x) => x.e.f === 'agent' && x.e.body?.text === 'Let me check that for you.'), 15_000);
    await page.getByTestId('msg-agent').filter({ hasText: 'Let me check that for you.' }).waitFor({ timeout: 15_000 });
    w.stop();
    await page.getByTestId('presence').filter({ hasText: 'offline' }).waitFor({ timeout: 10_000 });
    await page.close();
    assert.deepEqual(
      auditShown(
        w.entries.filter((x) => x.e.f !== 'agent'),
        [first],
      ),
      { lost: 0, duplicates: 0, outOfOrder: 0, problems: [] },
    );
    assert.deepEqual(errors, []);
  });
});
