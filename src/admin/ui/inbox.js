// The agent inbox in the admin app: the waiting queue, alerts when someone starts waiting (a
// sound and the browser's Notification), presence, claiming and the other status actions,
// canned replies, attachments, typing, the AI suggestion, the training view and the support
// KPIs. Loaded after app.js (it uses its `state`, `api`, `el` and `$`); user data goes into
// the page as text only, as in app.js.
'use strict';

const inbox = { waiting: [], agents: [], beat: null, lastTyping: 0, audio: null, alertsOn: false };
const STATUS_LABELS = { bot: 'bot', waiting: 'waiting', assigned: 'assigned', resolved: 'resolved', snoozed: 'snoozed' };

// ---- start, presence, training view ----

function inboxStart() {
  const training = localStorage.getItem('cb-admin-training');
  // Intents, scores and timings are for annotators: hidden by default for agents.
  $('#training').checked = training === null ? state.me.role !== 'agent' : training === '1';
  applyTraining();
  if (state.me.role === 'viewer') $('#presence').closest('label').hidden = true;
  else beat();
  clearInterval(inbox.beat);
  inbox.beat = setInterval(() => {
    if (state.token && state.me.role !== 'viewer') beat();
  }, 15_000);
  loadWaiting().catch(() => null);
  loadAgents().catch(() => null);
}

function applyTraining() {
  document.body.classList.toggle('training-off', !$('#training').checked);
}
$('#training').addEventListener('change', () => {
  localStorage.setItem('cb-admin-training', $('#training').checked ? '1' : '0');
  applyTraining();
});

async function beat() {
  await api('/inbox/presence', { body: { status: $('#presence').value } }).catch(() => null);
}
$('#presence').addEventListener('change', () => beat().then(loadAgents));

// Browsers allow sound and notifications only after a user gesture: this button is it.
$('#enable-alerts').addEventListener('click', async () => {
  inbox.audio = inbox.audio || new AudioContext();
  await inbox.audio.resume().catch(() => null);
  if ('Notification' in window && Notification.permission === 'default') await Notification.requestPermission().catch(() => null);
  inbox.alertsOn = true;
  $('#enable-alerts').textContent = 'Alerts on';
  $('#enable-alerts').disabled = true;
});

function beep() {
  const ctx = inbox.audio;
  if (!ctx) return;
  const osc = ctx.createOscillator();
  const gain = ctx.createGain();
  osc.frequency.value = 880;
  gain.gain.setValueAtTime(0.15, ctx.currentTime);
  gain.gain.exponentialRampToValueAtTime(0.001, ctx.currentTime + 0.4);
  osc.connect(gain).connect(ctx.destination);
  osc.start();
  osc.stop(ctx.currentTime + 0.4);
  document.body.dataset.beeps = String(Number(document.body.dataset.beeps || 0) + 1);
}

function alertHandoff(e) {
  const who = e.name || e.user;
  const text = `${who} is waiting for a person (${accountLabel({ channel: e.channel, accountId: e.account })})`;
  const banner = $('#alert');
  banner.replaceChildren(
    el('span', { text }),
    ' ',
    el('button', {
      'data-testid': 'alert-open',
      onclick: () => {
        banner.hidden = true;
        openConversation(e.key);
      },
      text: 'Open',
    }),
  );
  banner.hidden = false;
  if (inbox.alertsOn) beep();
  if ('Notification' in window && Notification.permission === 'granted') {
    try {
      const n = new Notification('Someone is waiting', { body: text, tag: e.key });
      n.onclick = () => {
        window.focus();
        openConversation(e.key);
      };
    } catch {
      /* some browsers allow notifications from a service worker only */
    }
  }
}

// ---- live inbox events ----

function onInbox(e) {
  if (e.type === 'status') {
    if (e.to === 'waiting' && e.from !== 'waiting') alertHandoff(e);
    loadWaiting().catch(() => null);
    loadList(true).catch(() => null);
    if (state.open === e.key) openConversation(e.key).catch(() => null);
  } else if (e.type === 'presence') {
    loadAgents().catch(() => null);
  } else if (e.type === 'typing' && state.open === e.key && e.agent !== state.me.name) {
    const t = $('[data-testid=typing-note]');
    if (t) {
      t.textContent = `${e.agent} is typing…`;
      clearTimeout(inbox.typingTimer);
      inbox.typingTimer = setTimeout(() => {
        t.textContent = '';
      }, 4_000);
    }
  }
}

// ---- waiting queue and agents ----

function waited(ms) {
  const m = Math.floor(ms / 60_000);
  return m < 1 ? 'less than a minute' : m < 60 ? `${m} min` : `${Math.floor(m / 60)} h ${m % 60} min`;
}

async function loadWaiting() {
  const { items } = await api('/inbox/waiting');
  inbox.waiting = items;
  $('#waiting-count').textContent = String(items.length);
  $('#waiting').replaceChildren(
    ...items.map((w) =>
      el(
        'li',
        { 'data-key': w.key, 'data-testid': 'waiting-item' },
        el('button', { class: 'link', onclick: () => openConversation(w.key), text: `${w.name || w.userId}` }),
        el('span', { class: 'muted', text: ` ${accountLabel({ channel: w.channel, accountId: w.accountId })} · waiting ${waited(w.waitedMs)}` }),
        state.me.role !== 'viewer' ? el('button', { 'data-testid': 'waiting-claim', onclick: () => claim(w.key), text: 'Claim', 'aria-label': `Claim ${w.name || w.userId}` }) : null,
      ),
    ),
  );
}

async function loadAgents() {
  const { items } = await api('/inbox/agents');
  inbox.agents = items;
  $('#agents').textContent = items.length ? `Agents: ${items.map((a) => `${a.name} (${a.status})`).join(', ')}` : 'No agent online';
}

// ---- status actions ----

function showError(err) {
  const box = $('[data-testid=inbox-error]');
  if (box) box.textContent = err.message;
  else $('#alert').replaceChildren(el('span', { text: err.message }));
}

async function inboxAct(key, what, body = {}) {
  try {
    await api(`/conversations/${encodeURIComponent(key)}/${what}`, { body });
  } catch (err) {
    return showError(err);
  }
  // The chatlog may not have a brand-new conversation yet: the live feed opens it when it does.
  await Promise.all([loadWaiting().catch(() => null), state.open === key ? openConversation(key).catch(() => null) : null]);
}

function claim(key) {
  state.open = key;
  return inboxAct(key, 'claim');
}

/**
 * Who may write to the user, when it is not us: Facebook's Page Inbox holding the thread
 * (Handover Protocol: only the thread's owner may send), or the page's staff answering from
 * elsewhere. Undefined when nothing needs saying.
 */
function holderNotice(s) {
  const text =
    s.thread === 'inbox'
      ? "Facebook's Page Inbox holds this conversation: the page's staff answer it there, and the bot stays quiet. Claiming it or replying here takes the thread back first."
      : s.agent === 'page inbox'
        ? "The page's staff are answering this conversation from outside this app (the Page Inbox, the Instagram app or Meta Business Suite): the bot stays quiet."
        : '';
  return text ? el('p', { class: 'notice', role: 'status', 'data-testid': 'page-inbox-notice', text }) : undefined;
}

/** Status, holder and the actions of the open conversation, for its header. */
function inboxControls(key, v) {
  const s = v.inbox || { status: 'bot' };
  const parts = [el('span', { class: `badge ${s.status}`, 'data-testid': 'inbox-status', text: `${STATUS_LABELS[s.status] || s.status}${s.agent ? ` · ${s.agent}` : ''}` })];
  const notice = holderNotice(s);
  if (notice) parts.push(notice);
  if (state.me.role === 'viewer') return parts;
  const mine = s.agent === state.me.name;
  if (s.status !== 'assigned' || !mine) parts.push(el('button', { 'data-testid': 'claim', onclick: () => inboxAct(key, 'claim'), text: 'Claim' }));
  if (s.status !== 'resolved' && s.status !== 'bot') parts.push(el('button', { 'data-testid': 'resolve', onclick: () => inboxAct(key, 'resolve'), text: 'Resolve' }));
  if (s.status === 'assigned') {
    parts.push(el('button', { 'data-testid': 'snooze', onclick: () => inboxAct(key, 'snooze', { minutes: 60 }), text: 'Snooze 1 h' }));
    parts.push(el('button', { 'data-testid': 'unassign', onclick: () => inboxAct(key, 'unassign'), text: 'Unassign' }));
  }
  const others = inbox.agents.filter((a) => a.name !== s.agent);
  if (others.length) {
    const pick = el('select', { 'data-testid': 'assign-select', 'aria-label': 'Assign to' }, el('option', { value: '', text: 'Assign to…' }), ...others.map((a) => el('option', { value: a.name, text: `${a.name} (${a.status})` })));
    pick.addEventListener('change', () => pick.value && inboxAct(key, 'assign', { agent: pick.value }));
    parts.push(pick);
  }
  parts.push(el('span', { class: 'error', role: 'status', 'data-testid': 'inbox-error' }));
  return parts;
}

// ---- agent tools: suggestion, canned replies, attachment, typing ----

function inboxTools(key, v, reply) {
  const tools = el('div', { class: 'tools' });
  const typingNote = el('span', { class: 'muted', 'data-testid': 'typing-note', 'aria-live': 'polite' });
  reply.addEventListener('input', () => {
    if (Date.now() - inbox.lastTyping < 3_000) return;
    inbox.lastTyping = Date.now();
    api(`/conversations/${encodeURIComponent(key)}/typing`, { body: {} }).catch(() => null);
  });
  const suggestion = el('div', { class: 'suggestion', 'data-testid': 'suggestion', hidden: true });
  api(`/conversations/${encodeURIComponent(key)}/suggestion`)
    .then(({ suggestion: s }) => {
      if (!s) return;
      suggestion.replaceChildren(
        el('strong', { text: 'Suggested reply (not sent): ' }),
        el('span', { 'data-testid': 'suggestion-text', text: s.text }),
        ' ',
        el('button', {
          'data-testid': 'use-suggestion',
          onclick: () => {
            reply.value = s.text;
            reply.focus();
          },
          text: 'Use suggestion',
        }),
      );
      suggestion.hidden = false;
    })
    .catch(() => null);
  const canned = el('select', { 'data-testid': 'canned-select', 'aria-label': 'Canned reply' }, el('option', { value: '', text: 'Canned reply…' }));
  api(`/conversations/${encodeURIComponent(key)}/canned`)
    .then(({ items }) => {
      canned.append(...items.map((c) => el('option', { value: c.text, text: c.title })));
    })
    .catch(() => null);
  canned.addEventListener('change', () => {
    if (canned.value) {
      reply.value = canned.value;
      reply.focus();
    }
  });
  const file = el('input', { type: 'file', 'data-testid': 'attach-file', 'aria-label': 'Attach a file' });
  const attach = el('button', {
    'data-testid': 'attach-send',
    text: 'Send file',
    onclick: async () => {
      const f = file.files?.[0];
      if (!f) return;
      try {
        const res = await fetch(`${API}/conversations/${encodeURIComponent(key)}/attachments?name=${encodeURIComponent(f.name)}`, {
          method: 'POST',
          headers: { authorization: `Bearer ${state.token}`, 'content-type': f.type || 'application/octet-stream' },
          body: f,
        });
        const up = await res.json();
        if (!res.ok) throw new Error(up.error || `HTTP ${res.status}`);
        await api(`/conversations/${encodeURIComponent(key)}/reply`, { body: { attachment: { url: up.url, type: up.type, name: up.name }, id: `ui-${crypto.randomUUID()}` } });
        file.value = '';
        setTimeout(() => state.open === key && openConversation(key), 600);
      } catch (err) {
        showError(err);
      }
    },
  });
  tools.append(suggestion, el('div', { class: 'row' }, canned, file, attach, typingNote));
  return [tools];
}

// ---- support KPIs on the stats page ----

async function loadKpis(hours) {
  const k = await api(`/kpis?from=${new Date(Date.now() - hours * 3_600_000).toISOString()}`);
  const pct = (x) => (x === null ? '—' : `${(x * 100).toFixed(1)}%`);
  const dur = (x) => (x === null ? '—' : x < 60_000 ? `${Math.round(x / 1000)} s` : `${Math.round(x / 60_000)} min`);
  const dist = [1, 2, 3, 4, 5].map((n) => ({ k: `${n} ★`, v: k.csat.distribution[n] || 0 }));
  $('#stats-body').append(
    el(
      'section',
      { 'data-testid': 'kpis' },
      el('h3', { text: 'Support' }),
      el('p', { 'data-testid': 'kpi-containment', text: `Containment (handled by the bot alone): ${pct(k.containment)}` }),
      el('p', { 'data-testid': 'kpi-handoff', text: `Handoff rate: ${pct(k.handoffRate)} of ${k.conversations} conversations` }),
      el('p', { 'data-testid': 'kpi-first-reply', text: `Time to first agent reply: ${dur(k.firstAgentReply.avgMs)} on average (${k.firstAgentReply.count})` }),
      el('p', { 'data-testid': 'kpi-resolution', text: `Resolution time: ${dur(k.resolution.avgMs)} on average (${k.resolution.count})` }),
      el('p', { 'data-testid': 'kpi-csat', text: `CSAT: ${k.csat.average === null ? '—' : k.csat.average} from ${k.csat.count} answers` }),
    ),
    el('section', { 'data-testid': 'chart-csat' }, el('h3', { text: 'Satisfaction answers' }), barChart(dist, { label: (r) => r.k, value: (r) => r.v, color: '#31a24c', name: 'Satisfaction answers by score' })),
    el(
      'section',
      { 'data-testid': 'kpi-agents' },
      el('h3', { text: 'Per agent' }),
      el(
        'table',
        {},
        el('caption', { class: 'muted', text: 'Resolved, first replies and satisfaction per agent' }),
        el('thead', {}, el('tr', {}, ...['Agent', 'Resolved', 'First reply', 'Resolution', 'CSAT'].map((h) => el('th', { scope: 'col', text: h })))),
        el(
          'tbody',
          {},
          ...k.agents.map((a) =>
            el(
              'tr',
              {},
              el('td', { text: a.agent }),
              el('td', { text: String(a.resolved) }),
              el('td', { text: dur(a.firstReplyAvgMs) }),
              el('td', { text: dur(a.resolutionAvgMs) }),
              el('td', { text: a.csatAverage === null ? '—' : `${a.csatAverage} (${a.csatCount})` }),
            ),
          ),
        ),
      ),
    ),
  );
}
