// The emulator page: each column is one simulated Messenger user. Texts, quick replies and
// postback buttons go to /emulator/api/send (signed there like Facebook does); the bot's
// replies are polled from what the Graph API emulator captured. All text goes in as text.
'use strict';

const users = new Map();

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

async function send(user, body) {
  const res = await fetch('/emulator/api/send', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user, ...body }) });
  if (!res.ok) throw new Error((await res.json().catch(() => ({}))).error || `HTTP ${res.status}`);
}

function addUser(id) {
  if (users.has(id)) return;
  const bubbles = el('div', { class: 'bubbles', 'data-testid': 'emu-bubbles' });
  const quick = el('div', { class: 'quick', 'data-testid': 'emu-quick' });
  const input = el('input', { placeholder: 'Aa', 'data-testid': 'emu-input' });
  const u = { id, after: 0, bubbles, quick, typing: null };
  const mine = (text) => bubbles.append(el('div', { class: 'msg me', 'data-testid': 'emu-mine', text }));
  const form = el('form', { class: 'compose' }, input, el('button', { 'data-testid': 'emu-send', text: 'Send' }));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const text = input.value.trim();
    if (!text) return;
    input.value = '';
    quick.replaceChildren();
    mine(text);
    await send(id, { text });
  });
  u.tap = async (title, payload, kind) => {
    quick.replaceChildren();
    mine(title);
    await send(id, kind === 'postback' ? { kind, payload, title } : { text: title, payload });
  };
  const phone = el('section', { class: 'phone', 'data-testid': 'phone', 'data-user': id },
    el('h2', { text: `User ${id}` }),
    el('div', { class: 'quick' }, el('button', { 'data-testid': 'emu-get-started', onclick: () => u.tap('Get Started', 'GET_STARTED', 'postback'), text: 'Get Started' })),
    bubbles, quick, form);
  document.getElementById('users').append(phone);
  users.set(id, u);
}

function render(u, item) {
  if (item.action) {
    if (item.action === 'typing_on' && !u.typing) {
      u.typing = el('div', { class: 'typing', 'data-testid': 'emu-typing', text: 'typing…' });
      u.bubbles.append(u.typing);
    }
    return;
  }
  if (u.typing) { u.typing.remove(); u.typing = null; }
  const b = el('div', { class: `msg them${item.tag === 'HUMAN_AGENT' ? ' agent' : ''}`, 'data-testid': 'emu-reply', text: item.text ?? '' });
  const att = item.attachment;
  const buttons = att && att.payload && Array.isArray(att.payload.buttons) ? att.payload.buttons : [];
  if (att && att.payload && att.payload.text) b.textContent = att.payload.text;
  for (const btn of buttons) if (btn.type === 'postback') b.append(el('button', { 'data-testid': 'emu-button', onclick: () => u.tap(btn.title, btn.payload, 'postback'), text: btn.title }));
  u.bubbles.append(b);
  u.quick.replaceChildren(...(item.quickReplies || []).filter((q) => q.content_type === 'text').map((q) =>
    el('button', { 'data-testid': 'emu-quick-reply', onclick: () => u.tap(q.title, q.payload, 'quick_reply'), text: q.title })));
  b.scrollIntoView({ block: 'end' });
}

async function poll() {
  for (const u of users.values()) {
    try {
      const r = await (await fetch(`/emulator/api/replies?user=${encodeURIComponent(u.id)}&after=${u.after}`)).json();
      u.after = r.next;
      for (const item of r.items) render(u, item);
    } catch { /* the server restarts: keep polling */ }
  }
  setTimeout(poll, 300);
}

document.getElementById('add-user').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const input = ev.target.elements.user;
  if (input.value && input.checkValidity()) addUser(input.value);
  input.value = '';
});

const initial = new URLSearchParams(location.search).get('users') || 'alice,bob';
for (const id of initial.split(',').filter((s) => /^[A-Za-z0-9_-]{1,64}$/.test(s))) addUser(id);
poll();
