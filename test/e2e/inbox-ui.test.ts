/**
 * The agent inbox in a real headless Chromium, two agents in two browser contexts: a handoff
 * raises the alert (banner, sound, Notification) in both and the webhook call within 2 s; agent
 * A claims, agent B gets the conflict; a canned reply and an attachment reach the user in
 * order; the AI suggestion is not sent until chosen; a Page Inbox echo puts a conversation in a
 * person's hands; resolve sends the CSAT survey and the answer lands in the KPIs; axe-core finds
 * no serious accessibility problem.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, describe, test } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { ADMIN_TOKEN, PASSWORD, startAdminApp } from '../helpers/admin';
import { launchChromium } from '../helpers/browser';
import { body, post, text } from '../helpers/fb';
import { alertReceiver } from '../helpers/inbox';
import { waitUntil } from '../helpers/wait';

const AXE = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

describe('agent inbox in Chromium, two agents', { timeout: 240_000 }, () => {
  let app: Awaited<ReturnType<typeof startAdminApp>>;
  let browser: Browser;
  let hook: Awaited<ReturnType<typeof alertReceiver>>;
  const contexts: BrowserContext[] = [];
  const errors: string[] = [];
  let a: Page;
  let b: Page;
  let ts = Date.now();
  const say = (user: string, words: string, extra: Record<string, unknown> = {}) => {
    ts = Math.max(ts + 1, Date.now());
    const ev = text('101', user, ts, `m-${user}-${ts}`, words);
    return post(app.url, body([{ ...ev, message: { ...(ev.message as object), ...extra } }]));
  };
  const sent = (user: string) => app.fakeGraph!.messagesTo(user);

  async function agentPage(name: string): Promise<Page> {
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 }, permissions: ['notifications'] });
    contexts.push(ctx);
    // Counts the browser notifications the app shows.
    await ctx.addInitScript(`
      window.__notes = [];
      const Native = window.Notification;
      window.Notification = class extends Native {
        constructor(title, o) { super(title, o); window.__notes.push(title); }
      };`);
    const page = await ctx.newPage();
    page.on('pageerror', (e) => errors.push(`${name}: ${e.message}`));
    await page.goto(`${app.url}/admin`);
    await page.getByTestId('signin-user').fill(name);
    await page.getByTestId('signin-password').fill(PASSWORD);
    await page.getByTestId('signin-submit').click();
    await page
      .getByTestId('who')
      .filter({ hasText: `${name} (agent)` })
      .waitFor();
    await page.getByTestId('enable-alerts').click();
    return page;
  }

  before(async () => {
    hook = await alertReceiver();
    [app, browser] = await Promise.all([startAdminApp('inboxui', { HANDOFF_WEBHOOK_URL: hook.url, HANDOFF_WEBHOOK_SECRET: 'inbox-ui-secret-0123456789' }), launchChromium()]);
    a = await agentPage('ann');
    b = await agentPage('cat');
  });
  after(async () => {
    for (const c of contexts) await c.close().catch(() => undefined);
    await browser?.close();
    await app?.stop();
    await hook?.close();
  });

  test('a handoff alerts both agents and the webhook within 2 s; A claims, B gets the conflict', async () => {
    await b.waitForTimeout(300); // both live streams open
    const t0 = Date.now();
    await say('zoe', 'I want to talk to a real person');
    await Promise.all([a, b].map((p) => p.getByTestId('handoff-alert').filter({ hasText: 'is waiting for a person' }).waitFor({ timeout: 2_000 })));
    assert.ok(Date.now() - t0 < 2_500, `alerts after ${Date.now() - t0} ms`);
    const call = (await waitUntil('the webhook call', () => hook.received.find((r) => r.body.includes('101:zoe')), 3_000))!;
    assert.ok(call.at - t0 < 2_000, `webhook after ${call.at - t0} ms`);
    for (const p of [a, b]) {
      assert.ok(Number(await p.evaluate('window.__notes.length')) >= 1, 'a browser notification');
      assert.ok(Number(await p.evaluate("document.body.dataset.beeps || '0'")) >= 1, 'a sound');
    }
    await a.getByTestId('waiting-item').first().getByTestId('waiting-claim').click();
    await a.getByTestId('inbox-status').filter({ hasText: 'assigned · ann' }).waitFor({ timeout: 10_000 });
    await b.getByTestId('conversation').filter({ hasText: 'zoe' }).first().click();
    await b.locator('#chat[data-key$=":zoe"]').waitFor({ timeout: 10_000 });
    await b.getByTestId('claim').click();
    await b.getByTestId('inbox-error').filter({ hasText: 'ann holds this conversation' }).waitFor({ timeout: 10_000 });
    assert.equal(await b.getByTestId('waiting-item').count(), 0, 'no longer in the waiting queue');
  });

  test('a canned reply (fields filled) and then a file reach the user in that order; the suggestion is sent only when chosen', async () => {
    const canned = await app.api('/canned', { token: ADMIN_TOKEN, json: { account: 'messenger:101', title: 'Greeting', text: 'Hi {{first_name}}, Ann here.' } });
    assert.equal(canned.status, 201);
    await a.getByTestId('conversation').filter({ hasText: 'zoe' }).first().click();
    await a.getByTestId('canned-select').locator('option', { hasText: 'Greeting' }).waitFor({ state: 'attached' });
    await a.getByTestId('canned-select').selectOption({ label: 'Greeting' });
    assert.equal(await a.getByTestId('reply-text').inputValue(), 'Hi Sam, Ann here.');
    await a.getByTestId('reply-send').click();
    await a.getByTestId('attach-file').setInputFiles({ name: 'invoice.pdf', mimeType: 'application/pdf', buffer: Buffer.from('%PDF-1.4 invoice') });
    await a.getByTestId('attach-send').click();
    const out = (await waitUntil(
      'the reply and the file',
      () => {
        const m = sent('zoe');
        const i = m.findIndex((c) => c.text === 'Hi Sam, Ann here.');
        const j = m.findIndex((c) => (c.body.message as { attachment?: unknown }).attachment !== undefined);
        return i >= 0 && j >= 0 ? { i, j, m } : undefined;
      },
      15_000,
    ))!;
    assert.ok(out.i < out.j, 'in the order the agent sent them');
    const url = (out.m[out.j]!.body.message as { attachment: { payload: { url: string } } }).attachment.payload.url;
    const file = await fetch(url);
    assert.equal(file.status, 200, 'the platform can fetch the file');
    assert.equal(await file.text(), '%PDF-1.4 invoice');

    await say('zoe', 'what are your opening hours?');
    const draft = a.getByTestId('suggestion-text');
    await waitUntil(
      'the suggestion',
      async () => {
        await a.getByTestId('conversation').filter({ hasText: 'zoe' }).first().click();
        return draft.isVisible();
      },
      15_000,
      500,
    );
    const suggested = await draft.innerText();
    assert.ok(!sent('zoe').some((c) => c.text === suggested), 'not sent on its own');
    await a.getByTestId('use-suggestion').click();
    await a.getByTestId('reply-send').click();
    await waitUntil('the chosen suggestion sent', () => sent('zoe').some((c) => c.text === suggested && c.body.tag === 'HUMAN_AGENT'), 15_000);
  });

  test("a reply from the Page Inbox puts a conversation in a person's hands", async () => {
    await say('yan', 'hello');
    await waitUntil('yan answered', () => sent('yan').length >= 1, 15_000);
    await app.fakeGraph!.staffReply('101', 'yan', 'Hi, Pat from the shop here');
    await waitUntil(
      'yan with the page inbox',
      async () => {
        await a.getByTestId('conversation').filter({ hasText: 'yan' }).first().click();
        return (await a.getByTestId('inbox-status').innerText()).includes('page inbox');
      },
      15_000,
      500,
    );
  });

  test('resolve sends the survey; the answer shows in the KPIs; axe-core finds no serious problem', async () => {
    await a.getByTestId('conversation').filter({ hasText: 'zoe' }).first().click();
    // The previous test left yan's conversation open: its Resolve button is yan's until zoe's view is shown.
    await a.locator('#chat[data-key$=":zoe"]').waitFor({ timeout: 10_000 });
    await a.getByTestId('resolve').click();
    await waitUntil('the survey', () => sent('zoe').some((c) => /rate the help/.test(c.text ?? '')), 15_000);
    await say('zoe', '4 ★★★★', { quick_reply: { payload: 'CSAT:4' } });
    await waitUntil('the answer recorded', async () => (await app.db!.query('SELECT 1 FROM csat_answers')).length === 1, 15_000);
    await a.getByTestId('training-toggle').check();
    await audit(a, 'conversation view');
    await a.getByTestId('nav-stats').click();
    await a.getByTestId('kpi-csat').filter({ hasText: 'CSAT: 4 from 1 answers' }).waitFor({ timeout: 10_000 });
    assert.match(await a.getByTestId('kpi-handoff').innerText(), /Handoff rate: \d+\.\d%/);
    assert.equal(await a.locator('svg[role=img]:not([aria-label])').count(), 0, 'every chart has a name');
    await audit(a, 'stats');
    assert.deepEqual(errors, []);
  });

  async function audit(page: Page, where: string): Promise<void> {
    await page.evaluate(AXE);
    const violations = (await page.evaluate(`axe.run(document, { resultTypes: ['violations'] }).then((r) => r.violations.map((v) => ({ id: v.id, impact: v.impact, targets: v.nodes.slice(0, 3).map((n) => n.target.join(' ')) })))`)) as {
      id: string;
      impact: string;
      targets: string[];
    }[];
    const serious = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
    assert.deepEqual(serious, [], `${where}: ${JSON.stringify(serious)}`);
  }
});
