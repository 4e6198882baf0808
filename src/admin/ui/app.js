// The admin app: conversations, the agent console and stats, over /admin/api.
// Every piece of user data goes into the page as text (textContent, attributes set one by
// one), never as markup; the server's CSP forbids inline scripts as a second line.
'use strict';

const API = '/admin/api';
const $ = (sel) => document.querySelector(sel);
const state = { token: sessionStorage.getItem('cb-admin-token'), me: null, cursor: null, open: null, seen: JSON.parse(localStorage.getItem('cb-admin-seen') || '{}'), fresh: new Set(), live: null };

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) if (c !== null && c !== undefined && c !== false) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}

async function api(path, opts = {}) {
  const res = await fetch(API + path, {
    method: opts.method || (opts.body === undefined ? 'GET' : 'POST'),
    headers: { ...(state.token ? { authorization: `Bearer ${state.token}` } : {}), ...(opts.body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(opts.body !== undefined ? { body: JSON.stringify(opts.body) } : {}),
  });
  if (res.status === 401 && path !== '/session') return signedOut(await endedWhy(res));
  if (opts.raw) return res;
  const body = res.status === 204 ? null : await res.json().catch(() => null);
  if (!res.ok) throw new Error(body?.error || `HTTP ${res.status}`);
  return body;
}

// The server says why a session ended (signed out, user removed or changed, token rotated).
async function endedWhy(res) {
  const body = await res.json().catch(() => null);
  return body?.error || 'Your session ended: sign in again.';
}

function show(id) {
  for (const s of ['signin', 'conversations', 'stats']) $('#' + s).hidden = s !== id;
  $('#nav').hidden = id === 'signin';
}

function signedOut(message) {
  state.token = null;
  sessionStorage.removeItem('cb-admin-token');
  if (state.live) state.live.abort();
  show('signin');
  $('#signin-error').textContent = message || '';
  throw new Error('signed out');
}

$('#signin-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const f = new FormData(ev.target);
  const body = f.get('token') ? { token: f.get('token') } : { user: f.get('user'), password: f.get('password') };
  try {
    const s = await api('/session', { body });
    state.token = s.token;
    sessionStorage.setItem('cb-admin-token', s.token);
    ev.target.reset();
    await start();
  } catch (err) {
    $('#signin-error').textContent = err.message;
  }
});

$('#signout').addEventListener('click', async () => {
  await api('/session', { method: 'DELETE' }).catch(() => null);
  signedOut('Signed out.');
});
for (const b of document.querySelectorAll('nav [data-view]')) b.addEventListener('click', () => (b.dataset.view === 'stats' ? loadStats() : show('conversations')));

const CHANNEL_NAMES = { messenger: 'Messenger', instagram: 'Instagram', whatsapp: 'WhatsApp', line: 'LINE', webchat: 'Web chat' };

/** "WhatsApp: Shop support" for a conversation's account (its name when the deployment lists one). */
function accountLabel(c) {
  const a = (state.me.pickableAccounts || []).find((x) => x.channel === c.channel && x.id === c.accountId);
  return `${CHANNEL_NAMES[c.channel] || c.channel}: ${a?.name || c.accountId}`;
}

async function start() {
  state.me = await api('/me');
  $('#who').textContent = `${state.me.name} (${state.me.role})`;
  const intents = $('#filters [name=intent]');
  intents.replaceChildren(el('option', { value: '', text: 'Any intent' }), ...state.me.intents.map((i) => el('option', { value: i, text: i })));
  const channels = $('#filters [name=channel]');
  channels.replaceChildren(el('option', { value: '', text: 'All channels' }), ...state.me.channels.map((c) => el('option', { value: c, text: CHANNEL_NAMES[c] || c })));
  const accounts = $('#filters [name=account]');
  accounts.replaceChildren(el('option', { value: '', text: 'All accounts' }), ...state.me.pickableAccounts.map((a) => el('option', { value: a.key, text: `${CHANNEL_NAMES[a.channel] || a.channel}: ${a.name || a.id}` })));
  show('conversations');
  inboxStart();
  await loadList(true);
  watchLive();
}

// ---- conversation list ----

function filters() {
  const f = new FormData($('#filters'));
  const q = new URLSearchParams();
  for (const [k, v] of f) if (v) q.set(k, k === 'to' ? new Date(new Date(v).getTime() + 86_400_000).toISOString() : k === 'from' ? new Date(v).toISOString() : v);
  return q;
}

$('#filters').addEventListener('submit', (ev) => {
  ev.preventDefault();
  loadList(true);
});
$('#more').addEventListener('click', () => loadList(false));

async function loadList(reset) {
  const q = filters();
  if (!reset && state.cursor) q.set('cursor', state.cursor);
  const { items, nextCursor } = await api('/conversations?' + q);
  if (reset) $('#list').replaceChildren();
  for (const c of items) $('#list').append(listItem(c));
  state.cursor = nextCursor || null;
  $('#more').hidden = !nextCursor;
}

function listItem(c) {
  const unread = new Date(c.lastMessageAt).getTime() > (state.seen[c.key] || 0);
  const li = el(
    'li',
    { 'data-key': c.key, 'data-testid': 'conversation', class: state.open === c.key ? 'active' : '', tabindex: 0, 'aria-label': `${c.name || c.userId}, ${c.status}` },
    el(
      'div',
      { class: 'top' },
      el('strong', { text: c.name ? `${c.name} (${c.userId})` : c.userId }),
      el(
        'span',
        {},
        state.fresh.has(c.key) ? el('span', { class: 'badge new', text: 'new' }) : unread ? el('span', { class: 'badge unread', 'data-testid': 'unread', text: 'unread' }) : null,
        ' ',
        el('span', { class: `badge ${c.status}`, text: c.status }),
      ),
    ),
    el('div', { class: 'muted', text: `${accountLabel(c)} · ${new Date(c.lastMessageAt).toLocaleString()} · ${c.lastIntent || ''}` }),
    el('div', { text: c.lastText || '' }),
  );
  li.addEventListener('click', () => openConversation(c.key));
  li.addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' || ev.key === ' ') {
      ev.preventDefault();
      openConversation(c.key);
    }
  });
  return li;
}

// ---- one conversation ----

async function openConversation(key) {
  state.open = key;
  state.fresh.delete(key);
  for (const li of document.querySelectorAll('#list li')) li.classList.toggle('active', li.dataset.key === key);
  const v = await api(`/conversations/${encodeURIComponent(key)}`);
  state.seen[key] = Date.now();
  localStorage.setItem('cb-admin-seen', JSON.stringify(state.seen));
  const li = document.querySelector(`#list li[data-key="${CSS.escape(key)}"] .badge.unread`);
  if (li) li.remove();
  renderConversation(key, v);
}

function timing(m) {
  const parts = [];
  if (m.queueWaitMs !== null) parts.push(`wait ${m.queueWaitMs} ms`);
  if (m.processingMs !== null) parts.push(`processing ${m.processingMs} ms`);
  if (m.totalMs !== null) parts.push(`total ${m.totalMs} ms`);
  return parts.join(' · ');
}

function attachments(list) {
  return (Array.isArray(list) ? list : []).map((a) => {
    const safe = typeof a.url === 'string' && /^https?:\/\//.test(a.url) ? a.url : null;
    if (a.type === 'image' && safe) return el('img', { src: safe, alt: 'image', 'data-testid': 'attachment-image', referrerpolicy: 'no-referrer' });
    if (a.coordinates)
      return el('a', {
        href: `https://www.openstreetmap.org/?mlat=${Number(a.coordinates.lat)}&mlon=${Number(a.coordinates.long)}`,
        target: '_blank',
        rel: 'noopener noreferrer',
        text: `📍 ${Number(a.coordinates.lat)}, ${Number(a.coordinates.long)}`,
      });
    if (safe) return el('a', { href: safe, target: '_blank', rel: 'noopener noreferrer', text: `${a.type}: ${a.title || safe}` });
    return el('span', { text: `[${a.type}]` });
  });
}

function bubble(m, lowBelow) {
  const author = m.author || (m.direction === 'in' ? 'user' : 'bot');
  const low = m.direction === 'in' && m.intent && !m.correctedIntent && (m.intent === 'None' || (m.score !== null && m.score < lowBelow));
  const b = el(
    'div',
    { class: `msg ${author}${low ? ' low' : ''}`, 'data-testid': `msg-${author}`, 'data-id': m.id, title: author },
    m.text !== null ? el('span', { class: 'text', text: m.text }) : m.payload ? el('span', { text: `[${m.kind}] ${m.payload}` }) : null,
    attachments(m.attachments),
  );
  const meta = [];
  if (m.direction === 'in' && m.intent) {
    meta.push(el('span', { 'data-testid': 'intent', text: `${m.correctedIntent ? `${m.correctedIntent} (was ${m.intent})` : m.intent} ${m.score !== null ? Math.round(m.score * 100) + '%' : ''}` }));
    if (Array.isArray(m.entities) && m.entities.length) meta.push(el('span', { text: ' · ' + m.entities.map((e) => `${e.entity}=${e.value}`).join(', ') }));
    if (state.me.role !== 'viewer') meta.push(' ', labelPicker(m));
  }
  const t = m.direction === 'in' ? timing(m) : m.sendMs !== null ? `send ${m.sendMs} ms` : '';
  if (t) meta.push(el('div', { 'data-testid': 'timings', text: t }));
  if (m.error) meta.push(el('div', { class: 'error', text: m.error }));
  if (meta.length) b.append(el('div', { class: 'meta' }, meta));
  return b;
}

function labelPicker(m) {
  const sel = el(
    'select',
    { 'data-testid': 'label-select', 'aria-label': 'correct intent' },
    el('option', { value: '', text: 'label…' }),
    el('option', { value: '=', text: '✓ correct' }),
    ...state.me.intents.map((i) => el('option', { value: i, text: i })),
  );
  sel.addEventListener('change', async () => {
    if (!sel.value) return;
    await api(`/messages/${m.id}/label`, { body: sel.value === '=' ? { correct: true } : { intent: sel.value } });
    openConversation(state.open);
  });
  return sel;
}

function renderConversation(key, v) {
  // Live updates re-render the view: what the agent is typing must survive them.
  const sameKey = $('#chat').dataset.key === key;
  const kept = sameKey ? { reply: $('[data-testid=reply-text]')?.value, note: $('[data-testid=note-text]')?.value, focus: document.activeElement?.dataset?.testid } : {};
  $('#chat').dataset.key = key;
  const c = v.conversation;
  const human = v.mode === 'human';
  const canAct = state.me.role !== 'viewer';
  const head = el(
    'div',
    { class: 'chat-head' },
    c.avatarUrl && /^https:\/\//.test(c.avatarUrl) ? el('img', { class: 'avatar', src: c.avatarUrl, alt: '', referrerpolicy: 'no-referrer', onerror: (e) => e.target.remove() }) : null,
    el('h2', { text: `${c.name || c.userId} on ${accountLabel(c)}` }),
    c.name ? el('details', { class: 'raw-id' }, el('summary', { text: 'id' }), el('code', { 'data-testid': 'raw-id', text: c.userId })) : null,
    el('span', { class: `badge ${human ? 'human' : 'bot'}`, 'data-testid': 'mode', text: human ? `human${v.agent ? ` (${v.agent})` : ''}` : 'bot' }),
    HAS_PRESENCE.has(c.channel) ? el('span', { class: 'badge presence', 'data-testid': 'presence', text: presenceText(state.presence[key]) }) : null,
    canAct ? el('button', { 'data-testid': human ? 'release' : 'takeover', onclick: () => act(key, human ? 'release' : 'takeover'), text: human ? 'Hand back to the bot' : 'Take over' }) : null,
  );
  if (HAS_PRESENCE.has(c.channel))
    api(`/conversations/${encodeURIComponent(key)}/presence`)
      .then((p) => showPresence(key, p))
      .catch(() => null);
  head.append(...inboxControls(key, v));
  const bubbles = el(
    'div',
    { class: 'bubbles', 'data-testid': 'bubbles', role: 'log', 'aria-live': 'polite', 'aria-label': 'Messages' },
    v.messages.map((m) => bubble(m, v.lowConfidenceBelow)),
  );
  const parts = [head, bubbles];
  if (canAct) {
    const reply = el('textarea', { 'data-testid': 'reply-text', placeholder: 'Reply as an agent', 'aria-label': 'Reply as an agent' });
    const note = el('textarea', { 'data-testid': 'note-text', placeholder: 'Private note (never sent)', 'aria-label': 'Private note (never sent)' });
    parts.push(
      el(
        'div',
        { class: 'console' },
        ...inboxTools(key, v, reply),
        reply,
        el('button', {
          class: 'primary',
          'data-testid': 'reply-send',
          onclick: async () => {
            if (reply.value.trim()) {
              await act(key, 'reply', { text: reply.value, id: `ui-${crypto.randomUUID()}` });
              reply.value = '';
            }
          },
          text: 'Send reply',
        }),
        el('h3', { text: 'Notes' }),
        ...v.notes.map((n) => el('div', { class: 'note', 'data-testid': 'note' }, el('strong', { text: `${n.author}: ` }), el('span', { text: n.text }))),
        note,
        el('button', {
          'data-testid': 'note-add',
          onclick: async () => {
            if (note.value.trim()) {
              await api(`/conversations/${encodeURIComponent(key)}/notes`, { body: { text: note.value } });
              openConversation(key);
            }
          },
          text: 'Add note',
        }),
      ),
    );
  }
  $('#chat').replaceChildren(...parts);
  if (kept.reply) $('[data-testid=reply-text]').value = kept.reply;
  if (kept.note) $('[data-testid=note-text]').value = kept.note;
  if (kept.focus) $(`[data-testid=${kept.focus}]`)?.focus();
  if (!sameKey) bubbles.lastElementChild?.scrollIntoView({ block: 'end' });
}

// ---- presence (channels with a live connection to the user: web chat) ----

const HAS_PRESENCE = new Set(['webchat']);
state.presence = {};

function presenceText(p) {
  return !p ? '…' : p.typing ? 'typing…' : p.online ? 'online' : 'offline';
}

function showPresence(key, p) {
  state.presence[key] = p;
  const badge = $('[data-testid=presence]');
  if (badge && $('#chat').dataset.key === key) {
    badge.textContent = presenceText(p);
    badge.classList.toggle('online', p.online);
  }
}

async function act(key, what, body = {}) {
  await api(`/conversations/${encodeURIComponent(key)}/${what}`, { body });
  // The action is queued behind the user's messages; the view catches up when it is done.
  setTimeout(() => state.open === key && openConversation(key), 600);
}

// ---- live updates (server-sent events over fetch, so the token stays in a header) ----

async function watchLive() {
  if (state.live) state.live.abort();
  const ctrl = new AbortController();
  state.live = ctrl;
  for (;;) {
    try {
      const res = await fetch(API + '/live', { headers: { authorization: `Bearer ${state.token}` }, signal: ctrl.signal });
      if (res.status === 401) return signedOut(await endedWhy(res));
      if (!res.ok || !res.body) throw new Error(`live ${res.status}`);
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      // Connected: catch up on whatever arrived while the stream was being opened.
      loadList(true).catch(() => null);
      if (state.open) openConversation(state.open).catch(() => null);
      let buf = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value;
        let i;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const chunk = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const data = chunk
            .split('\n')
            .filter((l) => l.startsWith('data: '))
            .map((l) => l.slice(6))
            .join('\n');
          if (chunk.startsWith('event: ended')) return signedOut(JSON.parse(data).error);
          if (chunk.startsWith('event: inbox')) onInbox(JSON.parse(data));
          else if (chunk.startsWith('event: presence')) {
            const p = JSON.parse(data);
            showPresence(p.key, p);
          } else if (data) onLive(JSON.parse(data));
        }
      }
    } catch (err) {
      if (ctrl.signal.aborted) return;
    }
    await new Promise((r) => setTimeout(r, 2_000));
  }
}

function onLive(messages) {
  const keys = new Set(messages.map((m) => m.key));
  for (const key of keys) {
    const existing = document.querySelector(`#list li[data-key="${CSS.escape(key)}"]`);
    if (!existing) state.fresh.add(key);
  }
  // The list is re-read (it is small and filtered on the server); the open chat too.
  loadList(true).catch(() => null);
  if (state.open && keys.has(state.open)) openConversation(state.open).catch(() => null);
}

// ---- stats ----

$('#stats-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  loadStats();
});

const SVG = 'http://www.w3.org/2000/svg';
function svg(tag, attrs = {}, ...children) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}

function barChart(rows, { width = 340, label, value, color = '#0866ff', name }) {
  const max = Math.max(1, ...rows.map(value));
  const h = 18;
  return svg(
    'svg',
    { width, height: rows.length * h + 4, role: 'img', 'aria-label': name || 'bar chart' },
    svg('title', {}, name || 'bar chart'),
    ...rows.map((r, i) =>
      svg(
        'g',
        { transform: `translate(0 ${i * h})` },
        svg('text', { x: 0, y: 12 }, label(r)),
        svg('rect', { x: 130, y: 3, height: 12, width: Math.max(1, ((width - 180) * value(r)) / max), fill: color }),
        svg('text', { x: 135 + ((width - 180) * value(r)) / max, y: 12 }, value(r)),
      ),
    ),
  );
}

function timeChart(points, width = 340, height = 120) {
  const max = Math.max(1, ...points.map((p) => p.in + p.out));
  const w = points.length ? (width - 30) / points.length : 0;
  return svg(
    'svg',
    { width, height: height + 16, role: 'img', 'aria-label': 'Messages per minute, in and out' },
    svg('title', {}, 'Messages per minute, in and out'),
    svg('text', { x: 0, y: 10 }, max),
    ...points.map((p, i) =>
      svg(
        'g',
        {},
        svg('rect', { x: 30 + i * w, y: height - (height * p.in) / max, width: Math.max(1, w - 1), height: (height * p.in) / max, fill: '#0866ff' }),
        svg('rect', { x: 30 + i * w, y: height - (height * (p.in + p.out)) / max, width: Math.max(1, w - 1), height: (height * p.out) / max, fill: '#31a24c' }),
      ),
    ),
    svg('text', { x: 30, y: height + 14 }, points.length ? new Date(points[0].minute).toLocaleTimeString() : 'no messages'),
  );
}

async function loadStats() {
  show('stats');
  const hours = Number(new FormData($('#stats-form')).get('hours'));
  const s = await api(`/stats?from=${new Date(Date.now() - hours * 3_600_000).toISOString()}`);
  const pct = (x) => (x === null ? '—' : `${(x * 100).toFixed(1)}%`);
  const ms = (x) => (x === null ? '—' : `${Math.round(x)} ms`);
  $('#stats-body').replaceChildren(
    el('section', { 'data-testid': 'chart-messages' }, el('h3', { text: 'Messages per minute (in / out)' }), timeChart(s.perMinute)),
    el(
      'section',
      { 'data-testid': 'chart-processing' },
      el('h3', { text: `Processing time (${s.processing.count} messages)` }),
      barChart(
        [
          ['p50', s.processing.p50Ms],
          ['p95', s.processing.p95Ms],
          ['p99', s.processing.p99Ms],
          ['avg', s.processing.avgMs],
          ['queue wait p99', s.queueWait.p99Ms],
        ].map(([k, v]) => ({ k, v: Math.round(v || 0) })),
        { label: (r) => r.k, value: (r) => r.v, color: '#f7b928', name: 'Processing time percentiles (ms)' },
      ),
      el('p', { text: `p50 ${ms(s.processing.p50Ms)} · p95 ${ms(s.processing.p95Ms)} · p99 ${ms(s.processing.p99Ms)}` }),
    ),
    el('section', { 'data-testid': 'chart-intents' }, el('h3', { text: 'Intents' }), barChart(s.intents.slice(0, 20), { label: (r) => r.intent, value: (r) => r.count, name: 'Messages per intent' })),
    el(
      'section',
      { 'data-testid': 'rates' },
      el('h3', { text: 'Rates' }),
      el('p', { 'data-testid': 'fallback-rate', text: `Fallback rate (intent None): ${pct(s.fallbackRate)}` }),
      el('p', { 'data-testid': 'send-failures', text: `Send API failures: ${pct(s.sendFailureRate)}` }),
    ),
  );
  await loadKpis(hours);
}

// ---- export ----

$('#export').addEventListener('click', () => $('#export-dialog').showModal());
$('#export-form').addEventListener('submit', async (ev) => {
  if (ev.submitter && ev.submitter.value !== 'go') return;
  const f = new FormData(ev.target);
  // The export takes the list's page, intent and dates; its own options come from the dialog.
  const list = filters();
  const q = new URLSearchParams({ format: f.get('format') });
  for (const k of ['page', 'intent', 'from', 'to']) if (list.get(k)) q.set(k, list.get(k));
  if (f.get('correctedOnly')) q.set('corrected-only', 'true');
  if (f.get('redact')) q.set('redact', 'true');
  const res = await api('/export?' + q, { raw: true });
  if (!res.ok) return alert((await res.json().catch(() => ({}))).error || `export failed: HTTP ${res.status}`);
  const ext = { jsonl: 'jsonl', csv: 'csv', nlpjs: 'json', rasa: 'yml' }[f.get('format')];
  const a = el('a', { href: URL.createObjectURL(await res.blob()), download: `chatlog-export.${ext}` });
  document.body.append(a);
  a.click();
  a.remove();
});

if (state.token) start().catch(() => show('signin'));
else show('signin');
