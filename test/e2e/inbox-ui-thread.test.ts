/**
 * The conversation view while Facebook's Page Inbox holds a Messenger thread (Handover
 * Protocol), in a real headless Chromium: the agent is told, plainly, that the page's staff
 * answer it there and that claiming takes the thread back; once an agent of ours has claimed it
 * (the thread taken back), the notice is gone. axe-core finds no serious problem with it shown.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { PAGE_INBOX_APP_ID } from '../../src/dev/fake-graph-handover';
import { PASSWORD, startAdminApp } from '../helpers/admin';
import { launchChromium } from '../helpers/browser';
import { tmpDir } from '../helpers/env';
import { waitUntil } from '../helpers/wait';

const AXE = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

describe('the Page Inbox holding a thread, in Chromium', { timeout: 180_000 }, () => {
  let app: Awaited<ReturnType<typeof startAdminApp>>;
  let browser: Browser;
  let page: Page;
  const errors: string[] = [];

  before(async () => {
    const channels = path.join(tmpDir('inbox-thread'), 'channels.json');
    fs.writeFileSync(
      channels,
      JSON.stringify({
        channels: [
          { type: 'messenger', id: '101', name: 'Shop', accessToken: 'token-101', pageInbox: true },
          { type: 'messenger', id: '102', accessToken: 'token-102' },
        ],
      }),
    );
    [app, browser] = await Promise.all([startAdminApp('inboxthread', { CHANNELS_FILE: channels, PAGES_FILE: '' }), launchChromium()]);
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    page = await ctx.newPage();
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${app.url}/admin`);
    await page.getByTestId('signin-user').fill('ann');
    await page.getByTestId('signin-password').fill(PASSWORD);
    await page.getByTestId('signin-submit').click();
    await page.getByTestId('who').filter({ hasText: 'ann (agent)' }).waitFor();
  });
  after(async () => {
    await browser?.close();
    await app?.stop();
  });

  const open = async (user: string) => {
    await page.getByTestId('conversation').filter({ hasText: user }).first().click();
    await page.getByTestId('inbox-status').waitFor();
  };

  test('while the Page Inbox holds the thread the view says so; after a claim takes it back, it does not', async () => {
    await app.say('101', 'u-held', 'I want to talk to a real person');
    await waitUntil('the thread passed to the Page Inbox', () => app.fakeGraph!.threads.owner('101', 'u-held') === PAGE_INBOX_APP_ID, 10_000);
    const notice = page.getByTestId('page-inbox-notice');
    await waitUntil(
      'the notice',
      async () => {
        await open('u-held');
        return (await notice.count()) === 1;
      },
      15_000,
      500,
    );
    assert.match(await notice.innerText(), /Page Inbox holds this conversation.*Claiming it or replying here takes the thread back/s);
    assert.equal(await notice.getAttribute('role'), 'status');
    await page.evaluate(AXE);
    const serious = (await page.evaluate(`axe.run(document, { resultTypes: ['violations'] }).then((r) => r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => v.id))`)) as string[];
    assert.deepEqual(serious, []);

    await page.getByTestId('claim').click();
    await waitUntil('the thread taken back', () => app.fakeGraph!.threads.owner('101', 'u-held') !== PAGE_INBOX_APP_ID, 10_000);
    await waitUntil(
      'the notice gone',
      async () => {
        await open('u-held');
        return (await notice.count()) === 0;
      },
      15_000,
      500,
    );
    assert.match(await page.getByTestId('inbox-status').innerText(), /assigned · ann/);

    // A bot conversation shows no notice.
    await app.say('101', 'u-bot', 'hello');
    await open('u-bot');
    assert.equal(await notice.count(), 0);
    assert.deepEqual(errors, []);
  });
});
