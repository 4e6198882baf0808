/**
 * The admin app and the Messenger emulator in a real headless Chromium: what an agent and
 * a newcomer do with a mouse and a keyboard.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { startAdminApp, PASSWORD, USERS } from '../helpers/admin';
import { launchChromium, screenshotDir } from '../helpers/browser';
import { body, post } from '../helpers/fb';
import { waitUntil } from '../helpers/wait';

const XSS = '<img src=x onerror=alert(1)>';

describe('admin app and emulator in Chromium', { timeout: 180_000 }, () => {
  let app: Awaited<ReturnType<typeof startAdminApp>>;
  let browser: Browser;
  const dialogs: string[] = [];
  const shots = screenshotDir();
  before(async () => {
    [app, browser] = await Promise.all([startAdminApp('adminui'), launchChromium()]);
  });
  after(async () => {
    await browser?.close();
    await app?.stop();
  });

  async function newPage(): Promise<Page> {
    const page = await browser.newPage({ viewport: { width: 1280, height: 820 } });
    page.on('dialog', (d) => {
      dialogs.push(d.message());
      void d.dismiss();
    });
    page.on('pageerror', (e) => dialogs.push(`page error: ${e.message}`));
    return page;
  }
  const emuSend = (user: string, text: string) => fetch(`${app.url}/emulator/api/send`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user, text }) });

  test('emulator: a newcomer chats with the bot as several users, with clickable quick replies', async () => {
    const page = await newPage();
    await page.goto(`${app.url}/emulator?users=carol,dave`);
    const carol = page.locator('[data-user=carol]');
    const dave = page.locator('[data-user=dave]');
    await carol.getByTestId('emu-get-started').click();
    await carol.getByTestId('emu-reply').first().waitFor();
    await carol.getByTestId('emu-quick-reply').filter({ hasText: 'Track my order' }).click();
    await carol
      .getByTestId('emu-reply')
      .nth(1)
      .filter({ hasText: /order number/ })
      .waitFor();
    await carol.getByTestId('emu-input').fill('SH-482913');
    await carol.getByTestId('emu-send').click();
    await carol.getByTestId('emu-reply').filter({ hasText: 'Order SH-482913 is shipped' }).waitFor();
    await dave.getByTestId('emu-input').fill('what are your opening hours?');
    await dave.getByTestId('emu-send').click();
    await dave.getByTestId('emu-reply').first().waitFor();
    assert.equal(
      await carol
        .getByTestId('emu-reply')
        .filter({ hasText: /opening|hours|open/i })
        .count(),
      0,
      'each user sees only their own chat',
    );
    await page.getByTestId('emu-input').first().fill('x'); // the page stays usable
    await page.close();
  });

  test('sign in, list, open a conversation with intents and timings; a live message appears; a label is corrected', async () => {
    const page = await newPage();
    // The platform's picture CDN is out of reach (as from this machine): no broken image shows.
    await page.route('https://platform-lookaside.fbsbx.com/**', (r) => r.abort('internetdisconnected'));
    const res = await page.goto(`${app.url}/admin`);
    assert.match(res!.headers()['content-security-policy'] ?? '', /script-src 'self'/);
    await page.getByTestId('signin-user').fill('ann');
    await page.getByTestId('signin-password').fill('wrong password');
    await page.getByTestId('signin-submit').click();
    await page.getByTestId('signin-error').filter({ hasText: /wrong/ }).waitFor();
    await page.getByTestId('signin-password').fill(PASSWORD);
    await page.getByTestId('signin-submit').click();
    await page.getByTestId('who').filter({ hasText: 'ann (agent)' }).waitFor();
    // Intents, scores and timings are behind the training view, off by default for agents.
    assert.equal(await page.getByTestId('training-toggle').isChecked(), false);
    await page.getByTestId('training-toggle').check();

    const carolItem = page.getByTestId('conversation').filter({ hasText: 'carol' });
    await carolItem.waitFor();
    assert.equal(await carolItem.getByTestId('unread').count(), 1, 'not opened yet: unread');
    await carolItem.click();
    const bubbles = page.getByTestId('bubbles');
    await bubbles.getByTestId('msg-user').filter({ hasText: 'SH-482913' }).waitFor();
    assert.match(await bubbles.getByTestId('intent').first().innerText(), /greetings\.hello 100%/);
    assert.match(await bubbles.getByTestId('timings').first().innerText(), /wait \d+(\.\d+)? ms · processing \d+(\.\d+)? ms · total/);
    assert.ok((await bubbles.getByTestId('msg-bot').count()) >= 3);
    await page.waitForFunction("![...document.querySelectorAll('img.avatar')].some((i) => i.complete && i.naturalWidth === 0)", undefined, { timeout: 5_000 });

    // A message sent now shows up in the open conversation without a reload.
    await emuSend('carol', 'one more thing: do you sell gift cards?');
    await bubbles.getByTestId('msg-user').filter({ hasText: 'gift cards' }).waitFor({ timeout: 15_000 });

    // Correct the label of the last user message.
    const last = bubbles.getByTestId('msg-user').filter({ hasText: 'gift cards' });
    const id = await last.getAttribute('data-id');
    await last.getByTestId('label-select').selectOption('product.availability');
    await bubbles.locator(`[data-id="${id}"]`).getByTestId('intent').filter({ hasText: 'product.availability (was' }).waitFor();
    const row = await app.db!.query<{ corrected_intent: string; corrected_by: string }>('SELECT corrected_intent, corrected_by FROM messages WHERE id = $1', [id]);
    assert.deepEqual(row[0], { corrected_intent: 'product.availability', corrected_by: 'ann' });
    await page.screenshot({ path: path.join(shots, 'admin-conversation.png') });
    await page.close();
  });

  test('take over, reply, write a note, hand back: the user gets the agent reply, never the note', async () => {
    await emuSend('erin', 'hello there');
    await waitUntil('erin answered', () => app.fakeGraph!.messagesTo('erin').length >= 1, 15_000);
    const page = await newPage();
    await page.goto(`${app.url}/admin`);
    await page.getByTestId('signin-user').fill('ann');
    await page.getByTestId('signin-password').fill(PASSWORD);
    await page.getByTestId('signin-submit').click();
    await page.getByTestId('conversation').filter({ hasText: 'erin' }).click();
    await page.getByTestId('takeover').click();
    await page.getByTestId('mode').filter({ hasText: 'human' }).waitFor({ timeout: 15_000 });
    await page.getByTestId('reply-text').fill('Hi Erin, this is Ann from the team.');
    await page.getByTestId('reply-send').click();
    await waitUntil('the agent reply sent', () => app.fakeGraph!.messagesTo('erin').some((c) => c.text === 'Hi Erin, this is Ann from the team.' && c.body.tag === 'HUMAN_AGENT'), 15_000);
    await page.getByTestId('msg-agent').filter({ hasText: 'this is Ann' }).waitFor({ timeout: 15_000 });
    await page.getByTestId('note-text').fill('Asked about returns last week');
    await page.getByTestId('note-add').click();
    await page.getByTestId('note').filter({ hasText: 'Asked about returns last week' }).waitFor();
    await page.getByTestId('release').click();
    await page.getByTestId('mode').filter({ hasText: 'bot' }).waitFor({ timeout: 15_000 });
    assert.ok(!app.fakeGraph!.calls.some((c) => c.text?.includes('Asked about returns')), 'notes are never sent');
    await page.close();
  });

  test('attachments show as an inline image, a map link and a file link; the export downloads a file', async () => {
    const now = Date.now();
    await post(
      app.url,
      body([
        { sender: { id: 'gina' }, recipient: { id: '101' }, timestamp: now, message: { mid: 'm-gina-img', attachments: [{ type: 'image', payload: { url: 'https://cdn.example.com/cat.jpg' } }] } },
        { sender: { id: 'gina' }, recipient: { id: '101' }, timestamp: now + 1, message: { mid: 'm-gina-loc', attachments: [{ type: 'location', payload: { coordinates: { lat: 52.52, long: 13.405 } } }] } },
        { sender: { id: 'gina' }, recipient: { id: '101' }, timestamp: now + 2, message: { mid: 'm-gina-file', attachments: [{ type: 'file', payload: { url: 'https://cdn.example.com/invoice.pdf' } }] } },
      ]),
    );
    await waitUntil('gina logged', async () => (await app.db!.query(`SELECT 1 FROM messages WHERE mid LIKE 'm-gina-%'`)).length === 3, 15_000);
    const page = await newPage();
    await page.goto(`${app.url}/admin`);
    await page.getByTestId('signin-token').fill('admin-token-0123456789abcdef');
    await page.getByTestId('signin-submit').click();
    await page.getByTestId('conversation').filter({ hasText: 'gina' }).click();
    await page.getByTestId('attachment-image').waitFor({ state: 'attached' });
    assert.equal(await page.getByTestId('attachment-image').getAttribute('src'), 'https://cdn.example.com/cat.jpg');
    assert.match(await page.locator('a[href*="openstreetmap.org"]').innerText(), /52\.52, 13\.405/);
    assert.equal(await page.locator('a[href="https://cdn.example.com/invoice.pdf"]').count(), 1);

    await page.getByTestId('export').click();
    const download = page.waitForEvent('download');
    await page.getByTestId('export-go').click();
    const file = await (await download).path();
    const lines = (await import('node:fs')).readFileSync(file, 'utf8').trim().split('\n');
    assert.ok(lines.length >= 5 && lines.every((l) => JSON.parse(l).text !== undefined), 'a JSONL file of messages');
    await page.close();
  });

  test('a message carrying markup shows as text and runs nothing; viewers get no agent controls; stats draw charts', async () => {
    await emuSend('mallory', XSS);
    await waitUntil('mallory logged', async () => (await app.db!.query('SELECT 1 FROM messages WHERE text = $1', [XSS])).length > 0, 15_000);
    const page = await newPage();
    await page.goto(`${app.url}/admin`);
    await page.getByTestId('signin-user').fill('vic');
    await page.getByTestId('signin-password').fill(PASSWORD);
    await page.getByTestId('signin-submit').click();
    await page.getByTestId('conversation').filter({ hasText: 'mallory' }).click();
    const bubble = page.getByTestId('msg-user').first();
    await bubble.waitFor();
    assert.equal(await bubble.locator('.text').innerText(), XSS, 'the markup is shown literally');
    assert.equal(await page.locator('img[src="x"]').count(), 0, 'no element was made from it');
    assert.equal(await page.getByTestId('reply-text').count(), 0, 'a viewer has no reply box');
    assert.equal(await page.getByTestId('label-select').count(), 0, 'nor label correction');
    assert.equal(await page.getByTestId('takeover').count(), 0);

    await page.getByTestId('nav-stats').click();
    await page.getByTestId('chart-intents').locator('svg rect').first().waitFor();
    assert.ok((await page.getByTestId('chart-messages').locator('svg rect').count()) > 0);
    assert.match(await page.getByTestId('fallback-rate').innerText(), /Fallback rate \(intent None\): \d+\.\d%/);
    await page.screenshot({ path: path.join(shots, 'admin-stats.png') });
    await page.close();
    assert.deepEqual(dialogs, [], 'no alert ran and no script failed on any page');
  });

  test('an agent removed from ADMIN_USERS_FILE is shown the sign-in page with the reason, without touching anything', async () => {
    app.writeUsers([...USERS, { name: 'ivy', role: 'agent', pages: ['101'] }]);
    const page = await newPage();
    await page.goto(`${app.url}/admin`);
    await waitUntil(
      'ivy can sign in',
      async () => {
        await page.getByTestId('signin-user').fill('ivy');
        await page.getByTestId('signin-password').fill(PASSWORD);
        await page.getByTestId('signin-submit').click();
        return page
          .getByTestId('who')
          .filter({ hasText: 'ivy (agent)' })
          .waitFor({ timeout: 2_000 })
          .then(
            () => true,
            () => false,
          );
      },
      20_000,
      500,
    );
    await page.getByTestId('conversation').first().waitFor();
    app.writeUsers([...USERS]);
    // The live feed's keep-alive finds the session ended and says why.
    await page.getByTestId('signin-error').filter({ hasText: 'ivy is no longer in ADMIN_USERS_FILE' }).waitFor({ timeout: 20_000 });
    assert.equal(await page.locator('#signin').isVisible(), true);
    await page.close();
  });
});
