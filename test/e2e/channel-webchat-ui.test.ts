/**
 * The web chat widget in a real headless Chromium, embedded with one script tag in a page of
 * another origin whose CSP forbids inline script: what a visitor does with a keyboard, a
 * mouse and a phone, and what they see.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser, BrowserContext, Frame, Page } from 'playwright-core';
import { WebchatChannel } from '../../src/channels/webchat/channel';
import { Notifier } from '../../src/channels/webchat/notify';
import { renderWebchat } from '../../src/channels/webchat/render';
import { WebchatStore } from '../../src/channels/webchat/store';
import type { Reply } from '../../src/channels/reply';
import { createLogger } from '../../src/log';
import { startTestApp } from '../helpers/app';
import { launchChromium, screenshotDir } from '../helpers/browser';
import { redisTargets } from '../helpers/env';
import { waitUntil } from '../helpers/wait';
import { channelsFile, SITE } from '../helpers/webchat';

const XSS = '<img src=x onerror=alert(1)>';

/** A page of the "shop" (another origin than the chatbot) with the widget's script tag and a CSP that allows no inline script. */
async function shopPage(gateway: string): Promise<{ url: string; close(): Promise<void> }> {
  const html = `<!doctype html><html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>Shop</title>
<script src="${gateway}/webchat/widget.js" data-account="${SITE}" async></script></head>
<body><h1>The shop</h1><p>Welcome.</p><button id="page-button">A button of the page</button></body></html>`;
  const csp = `default-src 'none'; script-src ${gateway}; frame-src ${gateway}; style-src 'none'; img-src 'none'`;
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'content-security-policy': csp });
    res.end(html);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://localhost:${(server.address() as AddressInfo).port}/`, close: () => new Promise((r) => server.close(() => r())) };
}

describe('web chat widget in Chromium', { timeout: 180_000 }, () => {
  let app: Awaited<ReturnType<typeof startTestApp>>;
  let browser: Browser;
  let shop: Awaited<ReturnType<typeof shopPage>>;
  const problems: string[] = [];
  const shots = screenshotDir();

  before(async () => {
    [app, browser] = await Promise.all([startTestApp('wcui', { ...redisTargets()[0]!.env, CHANNELS_FILE: channelsFile('wcui'), ROLE: 'all' }), launchChromium()]);
    shop = await shopPage(app.url);
  });
  after(async () => {
    await browser?.close();
    await shop?.close();
    await app?.stop();
  });

  async function open(context: BrowserContext | Browser = browser, viewport = { width: 1280, height: 800 }): Promise<{ page: Page; frame: Frame }> {
    const page = await context.newPage({ viewport });
    page.on('dialog', (d) => {
      problems.push(`dialog: ${d.message()}`);
      void d.dismiss();
    });
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('console', (m) => {
      // An image of a made-up host does not load: that is not the widget's fault.
      if ((m.type() === 'error' && !/Failed to load resource/.test(m.text())) || /Content Security Policy/i.test(m.text())) problems.push(`console: ${m.text()}`);
    });
    await page.goto(shop.url);
    await page.getByTestId('wc-launcher').waitFor();
    return { page, frame: await chatFrame(page) };
  }

  const chatFrame = async (page: Page): Promise<Frame> => (await waitUntil('the chat frame', () => page.frames().find((f) => f.url().includes('/webchat/frame')), 10_000))!;
  const bubbles = (frame: Frame, who: 'visitor' | 'bot' | 'agent') => frame.locator(`#log > li.${who}:not(.pending)`);

  /** A reply as the worker would send it through the channel (rich content the echo bot does not make). */
  async function botSends(user: string, id: string, reply: Reply): Promise<void> {
    const logger = createLogger('silent');
    const channel = new WebchatChannel({ store: new WebchatStore(app.redis, app.prefix, 48 * 3_600_000), notifier: new Notifier(new Map(), logger, () => undefined), logger, metrics: app.metrics });
    const to = { channel: 'webchat', account: SITE, user };
    for (const [i, m] of renderWebchat([reply]).messages.entries()) {
      const about = { id: `agent:${id}`, kind: 'agent' as const, ...to, timestamp: Date.now(), receivedAt: Date.now() };
      await channel.send(m, { to, ref: { event: about.id, index: i }, token: '', idempotencyKey: `${about.id}#${i}`, author: 'bot', about });
    }
  }

  test('keyboard only, on a page that forbids inline script: open, send, get the answer, quick replies, buttons, an image, links; markup shows as text', async () => {
    const { page, frame } = await open();
    // The launcher is the page's first stop after its own button, and says what it does.
    await page.locator('#page-button').focus();
    await page.keyboard.press('Tab');
    assert.equal(await page.getByTestId('wc-launcher').getAttribute('aria-label'), 'Open the chat');
    await page.keyboard.press('Enter');
    await frame.getByTestId('wc-input').waitFor({ state: 'visible' });
    await waitUntil('focus in the message box', () => frame.evaluate<boolean>("document.activeElement?.id === 'input'"));
    await page.keyboard.type('hello there');
    await page.keyboard.press('Enter');
    await bubbles(frame, 'bot').filter({ hasText: 'You said: "hello there"' }).waitFor();
    await bubbles(frame, 'visitor').first().and(frame.locator('[data-state=seen]')).waitFor();

    await page.keyboard.type(XSS);
    await page.keyboard.press('Enter');
    await bubbles(frame, 'bot')
      .filter({ hasText: `You said: "${XSS}"` })
      .waitFor();
    assert.equal(await bubbles(frame, 'visitor').nth(1).locator('.text').innerText(), XSS, 'the markup is shown literally');
    assert.equal(await frame.locator('img[src="x"]').count(), 0, 'no element was made from it');

    const user = (await frame.getByTestId('wc-log').getAttribute('data-visitor'))!;
    await botSends(user, 'rich', {
      text: 'Pick one, or see https://shop.example/help for more.',
      quickReplies: [
        { title: 'Track my order', payload: 'TRACK' },
        { title: 'Opening hours', payload: 'HOURS' },
      ],
      buttons: [
        { title: 'Talk to a human', payload: 'HUMAN' },
        { title: 'Our shop', url: 'https://shop.example/' },
      ],
      attachment: { type: 'image', url: 'https://shop.example/cat.png', name: 'A cat' },
    });
    const rich = bubbles(frame, 'bot').filter({ hasText: 'Pick one' });
    await rich.waitFor();
    assert.equal(await rich.locator('a[href="https://shop.example/help"]').innerText(), 'https://shop.example/help', 'a link in the text is a link');
    assert.equal(await rich.getByTestId('wc-link-button').getAttribute('href'), 'https://shop.example/');
    assert.equal(await rich.getByTestId('wc-image').getAttribute('src'), 'https://shop.example/cat.png');
    assert.equal(await rich.getByTestId('wc-image').getAttribute('alt'), 'A cat');
    await page.screenshot({ path: path.join(shots, 'webchat.png') });

    // A quick reply, reached with the keyboard, answers with its payload.
    await frame.getByTestId('wc-quick-reply').filter({ hasText: 'Track my order' }).focus();
    await page.keyboard.press('Enter');
    await bubbles(frame, 'bot').filter({ hasText: 'You picked: TRACK' }).waitFor();
    assert.equal(await frame.getByTestId('wc-quick-reply').count(), 0, 'quick replies go once one is picked');
    await rich.getByTestId('wc-button').filter({ hasText: 'Talk to a human' }).click();
    await bubbles(frame, 'bot').filter({ hasText: 'You tapped "Talk to a human" (HUMAN)' }).waitFor();

    // Escape closes the panel and gives the focus back to the launcher.
    await frame.getByTestId('wc-input').focus();
    await page.keyboard.press('Escape');
    await page.getByTestId('wc-frame').waitFor({ state: 'hidden' });
    assert.equal(await page.evaluate<string | undefined>("document.querySelector('[data-chatbot-webchat]')?.shadowRoot?.activeElement?.dataset.testid"), 'wc-launcher');
    await page.close();
    assert.deepEqual(problems, [], 'no CSP violation, no script error, no alert');
  });

  test('a reload keeps the history; a second tab shows the same transcript live', async () => {
    const context = await browser.newContext();
    const one = await open(context);
    await one.page.getByTestId('wc-launcher').click();
    await one.frame.getByTestId('wc-input').fill('first');
    await one.frame.getByTestId('wc-send').click();
    await bubbles(one.frame, 'bot').filter({ hasText: 'You said: "first"' }).waitFor();

    const two = await open(context);
    await two.page.getByTestId('wc-launcher').click();
    await bubbles(two.frame, 'bot').filter({ hasText: 'You said: "first"' }).waitFor();
    await two.frame.getByTestId('wc-input').fill('second, from the other tab');
    await two.frame.getByTestId('wc-send').click();
    // The first tab shows it live: the visitor's message and its answer.
    await bubbles(one.frame, 'bot').filter({ hasText: 'You said: "second, from the other tab"' }).waitFor();
    const texts = (f: Frame) => f.locator('#log > li:not(.pending):not(.truncated) .text').allInnerTexts();
    assert.deepEqual(await texts(one.frame), await texts(two.frame), 'both tabs show the same transcript');
    assert.deepEqual(await texts(one.frame), ['first', 'You said: "first"', 'second, from the other tab', 'You said: "second, from the other tab"']);

    await one.page.reload();
    const frame = await chatFrame(one.page);
    await one.page.getByTestId('wc-launcher').click();
    await bubbles(frame, 'bot').nth(1).waitFor();
    assert.deepEqual(await texts(frame), await texts(two.frame), 'the reloaded tab shows the same history');
    await context.close();
    assert.deepEqual(problems, []);
  });

  test('on a phone the panel fills the screen and the text is readable', async () => {
    const { page, frame } = await open(browser, { width: 375, height: 667 });
    await page.getByTestId('wc-launcher').click();
    await frame.getByTestId('wc-input').waitFor({ state: 'visible' });
    const box = (await page.getByTestId('wc-frame').boundingBox())!;
    assert.deepEqual([box.x, box.y, box.width, box.height], [0, 0, 375, 667]);
    const fontSize = await frame.evaluate<number>('parseFloat(getComputedStyle(document.body).fontSize)');
    assert.ok(fontSize >= 16, `body text ${fontSize}px`);
    const send = (await frame.getByTestId('wc-send').boundingBox())!;
    assert.ok(send.height >= 44, 'the send button is a comfortable tap target');
    await page.close();
    assert.deepEqual(problems, []);
  });
});
