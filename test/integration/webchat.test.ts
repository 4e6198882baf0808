/** Web chat through one in-process app (real HTTP, real sockets, real Redis): what a visitor's widget shows. */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startTestApp } from '../helpers/app';
import { redisTargets } from '../helpers/env';
import { sleep, waitUntil } from '../helpers/wait';
import { auditShown, channelsFile, online, widget } from '../helpers/webchat';

for (const target of redisTargets()) {
  describe(`web chat on ${target.name} redis`, () => {
    let app: Awaited<ReturnType<typeof startTestApp>>;
    before(async () => {
      app = await startTestApp('webchat', { ...target.env, CHANNELS_FILE: channelsFile('webchat'), FB_PAGE_ACCESS_TOKEN: 'token-any' });
    });
    after(async () => {
      await app?.stop();
    });

    test('a visitor sends three messages and sees each acknowledged and answered, in order', async () => {
      const w = widget(app.url);
      await online(w);
      const sent = ['hello', 'how are you?', 'bye'].map((t) => w.send(t)!);
      await waitUntil('three replies', () => w.entries.filter((x) => x.e.f === 'bot').length === 3, 15_000);
      assert.deepEqual(w.entries.filter((x) => x.e.f === 'visitor').map((x) => x.e.text), ['hello', 'how are you?', 'bye']);
      assert.deepEqual(w.entries.filter((x) => x.e.f === 'bot').map((x) => x.e.body?.text), ['You said: "hello"', 'You said: "how are you?"', 'You said: "bye"']);
      assert.deepEqual(auditShown(w.entries, sent), { lost: 0, duplicates: 0, outOfOrder: 0, problems: [] });
      await waitUntil('all acknowledged', () => sent.every((c) => w.delivered?.[c]));
      assert.equal(w.outbox.length, 0);
      w.stop();
    });

    test('a reload (same token, no cursor) shows the same transcript; a resumed socket gets only what follows', async () => {
      const a = widget(app.url);
      await online(a);
      const sent = [a.send('one')!, a.send('two')!];
      await waitUntil('two replies', () => a.entries.filter((x) => x.e.f === 'bot').length === 2, 15_000);
      a.stop();
      const b = widget(app.url, { tokenStore: a.tokens });
      await online(b);
      await waitUntil('history loaded', () => b.entries.length === 4);
      assert.deepEqual(b.entries, a.entries, 'the reloaded widget shows what the first one showed');
      assert.equal(b.visitor, a.visitor);
      sent.push(b.send('three')!);
      await waitUntil('third answered', () => b.entries.length === 6, 15_000);
      assert.deepEqual(auditShown(b.entries, sent), { lost: 0, duplicates: 0, outOfOrder: 0, problems: [] });
      b.stop();
      await sleep(50);
    });
  });
}
