/**
 * The Messenger emulator (dev mode and tests, wherever the built-in Graph API emulator runs):
 * a chat page that plays Messenger users. What the page sends becomes a webhook POST built
 * and signed here exactly as Facebook would (the app secret never reaches the browser); the
 * bot's replies are what the Graph API emulator captured for that user.
 */
import crypto from 'node:crypto';
import express from 'express';
import { encodeLikeFacebook, sign } from '../channels/meta/signature';
import type { FakeGraph } from '../dev/fake-graph';
import { emulatorUi } from './ui';

export interface EmulatorDeps {
  graph: FakeGraph;
  appSecret: string;
  pageId: () => string;
  webhookUrl: () => string;
}

const USER = /^[A-Za-z0-9_-]{1,64}$/;

export function emulatorRouter(d: EmulatorDeps): express.Router {
  const r = express.Router();
  r.use('/api', express.json({ limit: '16kb' }));
  r.post('/api/send', async (req, res) => {
    const b = (req.body ?? {}) as { user?: unknown; text?: unknown; payload?: unknown; title?: unknown; kind?: unknown };
    if (typeof b.user !== 'string' || !USER.test(b.user)) return void res.status(400).json({ error: '"user" must be 1-64 letters, digits, _ or -' });
    const page = d.pageId();
    const now = Date.now();
    const mid = `m_emu_${crypto.randomBytes(9).toString('base64url')}`;
    let event: Record<string, unknown>;
    if (b.kind === 'postback' && typeof b.payload === 'string') event = { postback: { mid, title: typeof b.title === 'string' ? b.title : b.payload, payload: b.payload } };
    else if (typeof b.text === 'string' && b.text.trim() && b.text.length <= 2_000)
      event = { message: { mid, text: b.text, ...(typeof b.payload === 'string' ? { quick_reply: { payload: b.payload } } : {}) } };
    else return void res.status(400).json({ error: 'send {"user","text"} (optionally with a quick-reply "payload") or {"user","kind":"postback","payload","title"}' });
    const raw = encodeLikeFacebook({ object: 'page', entry: [{ id: page, time: now, messaging: [{ sender: { id: b.user }, recipient: { id: page }, timestamp: now, ...event }] }] });
    const hook = await fetch(d.webhookUrl(), { method: 'POST', body: raw, headers: { 'content-type': 'application/json', 'x-hub-signature-256': sign(raw, d.appSecret) } });
    res.status(hook.ok ? 200 : 502).json({ mid, webhookStatus: hook.status });
  });
  // The bot's side of one user's chat, after index `after` (the page polls this).
  r.get('/api/replies', (req, res) => {
    const user = String(req.query.user ?? '');
    if (!USER.test(user)) return void res.status(400).json({ error: '"user" must be 1-64 letters, digits, _ or -' });
    const after = Math.max(0, Number(req.query.after) || 0);
    const calls = d.graph.calls.filter((c) => c.recipientId === user);
    res.json({
      next: calls.length,
      items: calls.slice(after).map((c) => {
        const m = c.body.message as { text?: string; quick_replies?: unknown[]; attachment?: unknown } | undefined;
        return m ? { text: m.text, quickReplies: m.quick_replies ?? [], attachment: m.attachment, tag: c.body.tag } : { action: c.body.sender_action };
      }),
    });
  });
  r.use(emulatorUi());
  return r;
}
