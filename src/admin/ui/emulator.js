// The emulator page: each column is one simulated user of one channel (Messenger, Instagram,
// WhatsApp, LINE: whichever this deployment serves through its built-in fakes). Texts, quick
// replies and buttons go to /emulator/api/send (signed there as the platform does); the bot's
// replies are polled from what the platform's fake captured. All text goes in as text.
'use strict';

const NAMES = { messenger: 'Messenger', instagram: 'Instagram', whatsapp: 'WhatsApp', line: 'LINE' };
const users = new Map();
let channels = [];

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null) continue;
    if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, String(v));
  }
  for (const c of children.flat()) if (c) e.append(c);
  return e;
}

async function send(u, body) {
  const res = await fetch('/emulator/api/send', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ channel: u.channel, user: u.id, ...body }) });
  if (!res.ok) throw new Error((await res.json().catch(() => ({}))).error || `HTTP ${res.status}`);
}

function addUser(channel, id) {
  const key = `${channel}:${id}`;
  if (users.has(key) || !channels.some((c) => c.channel === channel)) return;
  const bubbles = el('div', { class: 'bubbles', 'data-testid': 'emu-bubbles', 'aria-live': 'polite' });
  const quick = el('div', { class: 'quick', 'data-testid': 'emu-quick' });
  const input = el('input', { placeholder: 'Aa', 'data-testid': 'emu-input', 'aria-label': `Message as ${id}` });
  const u = { id, channel, after: 0, bubbles, quick, typing: null };
  const mine = (text) => bubbles.append(el('div', { class: 'msg me', 'data-testid': 'emu-mine', text }));
  const form = el('form', { class: 'compose' }, input, el('button', { 'data-testid': 'emu-send', text: 'Send' }));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const text = input.value.trim();
    if (!text) return;
    input.value = '';
    quick.replaceChildren();
    mine(text);
    await send(u, { text });
  });
  u.tap = async (title, payload, kind) => {
    quick.replaceChildren();
    mine(title);
    await send(u, kind === 'postback' ? { kind, payload, title } : { text: title, payload });
  };
  const phone = el(
    'section',
    { class: `phone ${channel}`, 'data-testid': 'phone', 'data-user': id, 'data-channel': channel },
    el('h2', { text: `${NAMES[channel] || channel} · ${id}` }),
    el('div', { class: 'quick' }, el('button', { 'data-testid': 'emu-get-started', onclick: () => u.tap('Get Started', 'GET_STARTED', 'postback'), text: 'Get Started' })),
    bubbles,
    quick,
    form,
  );
  document.getElementById('users').append(phone);
  users.set(key, u);
}

function render(u, item) {
  if (item.action) {
    if (item.action === 'typing' && !u.typing) {
      u.typing = el('div', { class: 'typing', 'data-testid': 'emu-typing', text: 'typing…' });
      u.bubbles.append(u.typing);
    }
    return;
  }
  if (u.typing) {
    u.typing.remove();
    u.typing = null;
  }
  const b = el('div', { class: `msg them${item.agent ? ' agent' : ''}`, 'data-testid': 'emu-reply', text: item.text ?? '' });
  if (item.image) b.append(el('a', { href: item.image, target: '_blank', rel: 'noopener', text: ' [image]' }));
  for (const btn of item.buttons || []) {
    if (btn.url) b.append(el('a', { class: 'button-link', href: btn.url, target: '_blank', rel: 'noopener', 'data-testid': 'emu-link', text: btn.title }));
    else b.append(el('button', { 'data-testid': 'emu-button', onclick: () => u.tap(btn.title, btn.payload, 'postback'), text: btn.title }));
  }
  u.bubbles.append(b);
  u.quick.replaceChildren(...(item.quickReplies || []).map((q) => el('button', { 'data-testid': 'emu-quick-reply', onclick: () => u.tap(q.title, q.payload, 'quick_reply'), text: q.title })));
  b.scrollIntoView({ block: 'end' });
}

async function poll() {
  for (const u of users.values()) {
    try {
      const q = new URLSearchParams({ channel: u.channel, user: u.id, after: String(u.after) });
      const r = await (await fetch(`/emulator/api/replies?${q}`)).json();
      u.after = r.next;
      for (const item of r.items) render(u, item);
    } catch {
      /* the server restarts: keep polling */
    }
  }
  setTimeout(poll, 300);
}

document.getElementById('add-user').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const { user, channel } = ev.target.elements;
  if (user.value && user.checkValidity()) addUser(channel.value, user.value);
  user.value = '';
});

async function start() {
  channels = await (await fetch('/emulator/api/channels')).json();
  const picker = document.getElementById('channel');
  picker.replaceChildren(...channels.map((c) => el('option', { value: c.channel, text: NAMES[c.channel] || c.channel })));
  const params = new URLSearchParams(location.search);
  const fallback = params.get('channel') || channels[0]?.channel;
  // ?users=carol,whatsapp:dave: a user of the default channel, or of the channel named before ':'.
  for (const spec of (params.get('users') || 'alice,bob').split(',')) {
    const [channel, id] = spec.includes(':') ? spec.split(':', 2) : [fallback, spec];
    if (/^[A-Za-z0-9_-]{1,64}$/.test(id || '')) addUser(channel, id);
  }
  poll();
}
start();
