/**
 * The gateway holding a widget's socket dies (SIGKILL) while the visitor is chatting; the
 * widget, in Chromium, reconnects through the same address to the other gateway and the
 * transcript shows every message and reply once, in order.
 *
 * Two gateway processes stand behind a small TCP balancer (test/helpers/tcp-proxy.ts) rather
 * than the widget knowing two URLs: that is how it runs in production (one host name in the
 * script tag, a Kubernetes Service or load balancer in front of the gateway replicas), so the
 * widget code under test is the code that ships. The balancer sends every connection to the
 * first live gateway, so the one to kill is known.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import type { Browser, Frame } from 'playwright-core';
import { launchChromium } from '../helpers/browser';
import { redisTargets } from '../helpers/env';
import { waitUntil } from '../helpers/wait';
import { SITE } from '../helpers/webchat';
import { startWebchatPipeline, type WebchatPipeline } from '../helpers/webchat-load';

let p: WebchatPipeline;
let browser: Browser;
let shop: http.Server;
let shopUrl: string;

before(async () => {
  [p, browser] = await Promise.all([startWebchatPipeline('wcfail', redisTargets()[0]!.env, { gateways: 2, workers: 1, strategy: 'first' }), launchChromium()]);
  const html = `<!doctype html><html><head><meta charset="utf-8"><title>Shop</title><script src="${p.url}/webchat/widget.js" data-account="${SITE}" async></script></head><body><h1>Shop</h1></body></html>`;
  shop = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'content-security-policy': `default-src 'none'; script-src ${p.url}; frame-src ${p.url}` });
    res.end(html);
  });
  await new Promise<void>((resolve) => shop.listen(0, '127.0.0.1', resolve));
  shopUrl = `http://localhost:${(shop.address() as AddressInfo).port}/`;
});
after(async () => {
  await browser?.close();
  await new Promise((r) => shop?.close(r));
  await p?.stop();
});

test('the gateway holding the socket is SIGKILLed mid-conversation: the widget goes on through the other one, nothing lost, doubled or reordered', { timeout: 240_000 }, async () => {
  const page = await browser.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(shopUrl);
  await page.getByTestId('wc-launcher').click();
  const frame = (await waitUntil('the chat frame', () => page.frames().find((f) => f.url().includes('/webchat/frame')), 10_000)) as Frame;
  const input = frame.getByTestId('wc-input');
  await input.waitFor({ state: 'visible' });
  const [first, second] = p.gateways;
  const n = 16;
  for (let i = 0; i < n; i++) {
    await input.fill(`message ${i}`);
    await input.press('Enter');
    if (i === 7) {
      assert.deepEqual(p.proxy.holding(), [first!.port], 'the widget is on the first gateway');
      await first!.kill('SIGKILL');
    }
    await new Promise((r) => setTimeout(r, 150));
  }
  const replies = frame.locator('#log > li.bot');
  await waitUntil('every reply shown', async () => (await replies.count()) >= n, 60_000);
  const shown = await frame.locator('#log > li:not(.pending):not(.truncated) .text').allInnerTexts();
  const mine = shown.filter((t) => t.startsWith('message '));
  const answers = shown.filter((t) => t.startsWith('You said: '));
  const sent = Array.from({ length: n }, (_, i) => `message ${i}`);
  assert.deepEqual(mine, sent, 'each message once, in the order typed');
  assert.deepEqual(
    answers,
    sent.map((m) => `You said: "${m}"`),
    'each reply once, in order',
  );
  for (const m of sent) assert.ok(shown.indexOf(`You said: "${m}"`) > shown.indexOf(m), `the reply to ${m} after it`);
  assert.equal(await frame.getByTestId('wc-pending').count(), 0, 'nothing left unsent');
  assert.deepEqual(p.proxy.holding(), [second!.port], 'the widget reconnected to the second gateway');

  // A reload, served by the second gateway alone, shows exactly the same transcript.
  await page.reload();
  await page.getByTestId('wc-launcher').click();
  const again = (await waitUntil('the chat frame', () => page.frames().find((f) => f.url().includes('/webchat/frame')), 10_000)) as Frame;
  await waitUntil('history', async () => (await again.locator('#log > li.bot').count()) >= n, 30_000);
  assert.deepEqual(await again.locator('#log > li:not(.pending):not(.truncated) .text').allInnerTexts(), shown);
  assert.deepEqual(errors, []);
  await page.close();
});
