/**
 * The chat emulator of dev mode in a real headless Chromium: with nothing configured, a
 * newcomer picks a channel and chats with the dialog bot as a Messenger, Instagram, WhatsApp
 * or LINE user, taps the quick replies each platform renders, and sees only their own chat.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { startTestApp } from '../helpers/app';
import { launchChromium, screenshotDir } from '../helpers/browser';
import { redisTargets, tmpDir } from '../helpers/env';

describe('the chat emulator, every channel', { timeout: 180_000 }, () => {
  let app: Awaited<ReturnType<typeof startTestApp>>;
  let browser: Browser;
  before(async () => {
    // Dev mode as `npm start` runs it: no pages, channels or platform URLs configured.
    [app, browser] = await Promise.all([startTestApp('emulator', { ...redisTargets()[0]!.env, BOT: 'dialog', FB_PAGE_ACCESS_TOKEN: '', DATA_DIR: tmpDir('emulator'), BOT_MARK_SEEN: 'false' }), launchChromium()]);
  });
  after(async () => {
    await browser?.close();
    await app?.stop();
  });

  test('the picker lists every channel; each user chats on their own channel, quick replies included', async () => {
    const channels = (await (await fetch(`${app.url}/emulator/api/channels`)).json()) as { channel: string }[];
    assert.deepEqual(
      channels.map((c) => c.channel),
      ['messenger', 'instagram', 'whatsapp', 'line'],
    );
    const page = await browser.newPage({ viewport: { width: 1600, height: 820 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${app.url}/emulator?users=messenger:mia,instagram:ivan,whatsapp:wanda,line:leo`);
    for (const [channel, user] of [
      ['messenger', 'mia'],
      ['instagram', 'ivan'],
      ['whatsapp', 'wanda'],
      ['line', 'leo'],
    ] as const) {
      const phone = page.locator(`[data-channel=${channel}][data-user=${user}]`);
      await phone.getByTestId('emu-input').fill('hello');
      await phone.getByTestId('emu-send').click();
      await phone.getByTestId('emu-reply').first().waitFor({ timeout: 20_000 });
      // Every platform renders the bot's suggestions its own way (quick replies, WhatsApp buttons or lists, LINE quick reply items): all tappable here.
      await phone.getByTestId('emu-quick-reply').filter({ hasText: 'Track my order' }).click();
      await phone
        .getByTestId('emu-reply')
        .filter({ hasText: /order number/ })
        .waitFor({ timeout: 20_000 });
    }
    assert.equal(
      await page
        .locator('[data-channel=line]')
        .getByTestId('emu-reply')
        .filter({ hasText: /order number/ })
        .count(),
      1,
      'each user sees only their own chat',
    );
    // A user added from the picker.
    await page.getByTestId('new-channel').selectOption('whatsapp');
    await page.getByTestId('new-user').fill('zoe');
    await page.getByTestId('add-user').click();
    await page.locator('[data-channel=whatsapp][data-user=zoe]').waitFor();
    await page.screenshot({ path: path.join(screenshotDir(), 'emulator-channels.png') });
    assert.deepEqual(errors, []);
    await page.close();
  });

  test('the API names what it takes: an unknown channel or user is a 400', async () => {
    const post = (b: unknown) => fetch(`${app.url}/emulator/api/send`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(b) });
    assert.equal((await post({ channel: 'telegram', user: 'a', text: 'x' })).status, 400);
    assert.equal((await post({ channel: 'line', user: 'a b', text: 'x' })).status, 400);
    assert.equal((await fetch(`${app.url}/emulator/api/replies?channel=sms&user=a`)).status, 400);
  });
});
