/**
 * The emulator (dev mode and tests, wherever the built-in platform fakes run): a chat page
 * that plays users of every channel the deployment serves through a fake — Messenger,
 * Instagram, WhatsApp, LINE. What the page sends becomes a webhook built and signed here
 * exactly as the platform would (secrets never reach the browser); the bot's replies are what
 * the platform's fake captured for that user, in one shape whatever the platform.
 */
import crypto from 'node:crypto';
import express from 'express';
import { encodeLikeFacebook, sign } from '../channels/meta/signature';
import { emulatorUi } from '../admin/ui';
import type { EmuDriver, EmuInput } from './emulator-drivers';

export interface EmulatorDeps {
  /** The channels the page can play, the first one the default. */
  drivers: () => readonly EmuDriver[];
}

const USER = /^[A-Za-z0-9_-]{1,64}$/;

/** Messenger users' messages, signed with the app secret as Facebook signs them. */
export function messengerSender(appSecret: string, pageId: () => string, webhookUrl: () => string) {
  return async (user: string, i: EmuInput): Promise<{ status: number }> => {
    const page = pageId();
    const now = Date.now();
    const mid = `m_emu_${crypto.randomBytes(9).toString('base64url')}`;
    const event = i.postback ? { postback: { mid, title: i.title ?? i.payload, payload: i.payload } } : { message: { mid, text: i.text ?? '', ...(i.payload !== undefined ? { quick_reply: { payload: i.payload } } : {}) } };
    const raw = encodeLikeFacebook({ object: 'page', entry: [{ id: page, time: now, messaging: [{ sender: { id: user }, recipient: { id: page }, timestamp: now, ...event }] }] });
    const hook = await fetch(webhookUrl(), { method: 'POST', body: raw, headers: { 'content-type': 'application/json', 'x-hub-signature-256': sign(raw, appSecret) } });
    await hook.arrayBuffer();
    return { status: hook.status };
  };
}

export function emulatorRouter(d: EmulatorDeps): express.Router {
  const r = express.Router();
  r.use('/api', express.json({ limit: '16kb' }));
  const driverOf = (channel: unknown) => (channel === undefined || channel === '' ? d.drivers()[0] : d.drivers().find((x) => x.channel === channel));
  r.get('/api/channels', (_req, res) => {
    res.json(d.drivers().map((x) => ({ channel: x.channel, account: x.account })));
  });
  const unknownChannel = (res: express.Response) =>
    res.status(400).json({
      error: `"channel" must be one of ${d
        .drivers()
        .map((x) => x.channel)
        .join(', ')}`,
    });
  r.post('/api/send', async (req, res) => {
    const b = (req.body ?? {}) as { channel?: unknown; user?: unknown; text?: unknown; payload?: unknown; title?: unknown; kind?: unknown };
    const driver = driverOf(b.channel);
    if (!driver) return void unknownChannel(res);
    if (typeof b.user !== 'string' || !USER.test(b.user)) return void res.status(400).json({ error: '"user" must be 1-64 letters, digits, _ or -' });
    let input: EmuInput;
    if (b.kind === 'postback' && typeof b.payload === 'string') input = { postback: true, payload: b.payload, ...(typeof b.title === 'string' ? { title: b.title } : {}) };
    else if (typeof b.text === 'string' && b.text.trim() && b.text.length <= 2_000) input = { text: b.text, ...(typeof b.payload === 'string' ? { payload: b.payload, title: b.text } : {}) };
    else return void res.status(400).json({ error: 'send {"user","text"} (optionally with a quick-reply "payload") or {"user","kind":"postback","payload","title"}' });
    try {
      const sent = await driver.send(b.user, input);
      res.status(sent.status >= 200 && sent.status < 300 ? 200 : 502).json({ channel: driver.channel, webhookStatus: sent.status });
    } catch (err) {
      res.status(502).json({ error: `the webhook could not be reached: ${(err as Error).message}` });
    }
  });
  // The bot's side of one user's chat, after index `after` (the page polls this).
  r.get('/api/replies', (req, res) => {
    const driver = driverOf(req.query.channel);
    if (!driver) return void unknownChannel(res);
    const user = String(req.query.user ?? '');
    if (!USER.test(user)) return void res.status(400).json({ error: '"user" must be 1-64 letters, digits, _ or -' });
    const after = Math.max(0, Number(req.query.after) || 0);
    const items = driver.replies(user);
    res.json({ next: items.length, items: items.slice(after) });
  });
  r.use(emulatorUi());
  return r;
}
