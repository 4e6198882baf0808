// The chat panel, inside the widget's frame (served by the chatbot with its own strict CSP).
// It draws what client.js holds: the transcript in the server's order, the visitor's messages
// still on their way, typing, ticks. Every piece of text goes in as text (textContent, one
// attribute at a time, links only to http(s)), never as markup.
(function () {
  'use strict';
  var params = new URLSearchParams(location.search);
  var account = params.get('account') || '';
  var $ = function (id) {
    return document.getElementById(id);
  };
  var log = $('log'),
    input = $('input'),
    choices = $('choices');
  var client = null,
    shown = {},
    pendingNodes = [],
    open = false,
    parentOrigin = null,
    marks = null;

  function el(tag, attrs, children) {
    var e = document.createElement(tag);
    for (var k in attrs || {}) {
      if (attrs[k] === undefined || attrs[k] === null) continue;
      if (k === 'text') e.textContent = attrs[k];
      else if (k === 'class') e.className = attrs[k];
      else if (k === 'onclick') e.addEventListener('click', attrs[k]);
      else e.setAttribute(k, String(attrs[k]));
    }
    (children || []).forEach(function (c) {
      if (c) e.append(c);
    });
    return e;
  }

  var WEB = /^https?:\/\//i;
  var URLS = /https?:\/\/[^\s<>"']+[^\s<>"'.,;:!?)]/gi;

  /** Text with its links made clickable, every part as a text node. */
  function richText(text) {
    var out = document.createDocumentFragment(),
      last = 0,
      m;
    URLS.lastIndex = 0;
    while ((m = URLS.exec(text))) {
      out.append(document.createTextNode(text.slice(last, m.index)));
      out.append(el('a', { href: m[0], target: '_blank', rel: 'noopener noreferrer', text: m[0] }));
      last = m.index + m[0].length;
    }
    out.append(document.createTextNode(text.slice(last)));
    return out;
  }

  /**
   * The frame's storage is the host page's: a third-party frame's own storage is blocked or
   * thrown away by many browsers (Safari, Firefox, Chrome in incognito), which would make every
   * page load a new visitor. The loader hands what it kept over in its init message and keeps
   * what we write (`kind` local: token and read mark for every tab; session: this tab's outbox).
   */
  function storage(kind, initial) {
    var memory = Object.assign({}, initial);
    return {
      get: function (k) {
        return memory[k] || null;
      },
      set: function (k, v) {
        memory[k] = v;
        post({ type: 'store', kind: kind, key: k, value: v });
      },
    };
  }

  function post(msg) {
    if (parentOrigin) window.parent.postMessage(Object.assign({}, msg, { type: 'cb-webchat:' + msg.type }), parentOrigin);
  }

  function bubble(entry, index) {
    var e = entry.e;
    var li = el('li', { class: e.f, 'data-testid': 'wc-' + e.f, 'data-id': entry.id });
    if (e.f === 'visitor') {
      li.append(el('span', { class: 'text', text: e.text }));
      li.append(el('span', { class: 'ticks', 'data-testid': 'wc-ticks' }));
      return li;
    }
    var b = e.body || {};
    if (e.f === 'agent') li.append(el('span', { class: 'who', text: 'Agent' }));
    if (typeof b.text === 'string') li.append(el('span', { class: 'text' }, [richText(b.text)]));
    var a = b.attachment;
    if (a && typeof a.url === 'string' && WEB.test(a.url)) {
      if (a.type === 'image') li.append(el('img', { src: a.url, alt: a.name || 'image', referrerpolicy: 'no-referrer', 'data-testid': 'wc-image' }));
      else li.append(el('a', { href: a.url, target: '_blank', rel: 'noopener noreferrer', text: a.name || a.url }));
    }
    if (Array.isArray(b.buttons) && b.buttons.length) {
      li.append(
        el(
          'div',
          { class: 'buttons' },
          b.buttons.map(function (btn) {
            if (typeof btn.url === 'string') return WEB.test(btn.url) ? el('a', { href: btn.url, target: '_blank', rel: 'noopener noreferrer', text: btn.title, 'data-testid': 'wc-link-button' }) : null;
            return el('button', {
              type: 'button',
              text: btn.title,
              'data-testid': 'wc-button',
              onclick: function () {
                client.send(btn.title, 'postback', btn.payload || btn.title);
              },
            });
          }),
        ),
      );
    }
    return li;
  }

  function ticks(index, seenUpTo) {
    var e = client.entries[index].e;
    if (index <= seenUpTo) return ['✓✓', 'seen'];
    var waiting = client.outbox.some(function (m) {
      return m.cid === e.cid && !m.acked;
    });
    return waiting ? ['…', 'sending'] : ['✓', 'delivered'];
  }

  function render() {
    log.setAttribute('data-visitor', client.visitor || '');
    if (client.site) $('title').textContent = client.site;
    var atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
    if (client.truncated && !shown.truncated) {
      shown.truncated = log.insertBefore(el('li', { class: 'truncated', text: 'Earlier messages are not shown.' }), log.firstChild);
    }
    pendingNodes.forEach(function (n) {
      n.remove();
    });
    var seenUpTo = client.seenUpTo();
    client.entries.forEach(function (entry, i) {
      var li = shown[entry.id];
      if (!li) {
        li = shown[entry.id] = bubble(entry, i);
        log.append(li);
      }
      if (entry.e.f === 'visitor') {
        var t = ticks(i, seenUpTo),
          span = li.querySelector('.ticks');
        if (span.textContent !== t[0]) {
          span.textContent = t[0];
          span.setAttribute('aria-label', t[1]);
          li.setAttribute('data-state', t[1]);
        }
      }
    });
    pendingNodes = client.outbox.map(function (m) {
      return log.appendChild(el('li', { class: 'visitor pending', 'data-testid': 'wc-pending' }, [el('span', { class: 'text', text: m.text }), el('span', { class: 'ticks', text: m.acked ? '✓' : 'Sending…' })]));
    });
    var last = client.entries[client.entries.length - 1];
    var quick = last && last.e.f !== 'visitor' && !client.outbox.length && last.e.body && last.e.body.quickReplies;
    choices.replaceChildren.apply(
      choices,
      (quick || []).map(function (q) {
        return el('button', {
          type: 'button',
          text: q.title,
          'data-testid': 'wc-quick-reply',
          onclick: function () {
            client.send(q.title, 'quick_reply', q.payload);
          },
        });
      }),
    );
    var typing = $('typing');
    typing.hidden = !client.typing;
    typing.textContent = client.typing ? (client.typing.by === 'agent' ? 'An agent is typing…' : 'Typing…') : '';
    $('status').textContent = { idle: '', connecting: 'connecting…', reconnecting: 'reconnecting…', online: 'online', failed: 'unavailable' }[client.status] || '';
    var notice = $('notice');
    notice.hidden = !client.error;
    notice.textContent = client.error || '';
    if (atBottom) log.scrollTop = log.scrollHeight;
    // Unread: replies after the last one the visitor had the panel open for (kept across page loads).
    if (open && last) marks.set('read', last.id);
    var read = marks.get('read');
    var unread = client.entries.filter(function (x) {
      return x.e.f !== 'visitor' && (!read || CbWebchat.compareIds(x.id, read) > 0);
    }).length;
    post({ type: 'unread', count: unread });
  }

  function start(identity, stored) {
    var tokens = storage('local', { token: stored.token, read: stored.read });
    marks = tokens;
    client = new CbWebchat.WebchatClient({
      url: (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/webchat/ws?account=' + encodeURIComponent(account),
      origin: parentOrigin,
      identity: identity,
      tokenStore: tokens,
      outboxStore: storage('session', { outbox: stored.outbox }),
      WebSocket: WebSocket,
      crypto: window.crypto,
      onChange: render,
    });
    // A visitor with a conversation (or logged in) is connected at once: replies and presence are live; others when they open the chat.
    if (identity || tokens.get('token') || client.outbox.length) client.connect();
  }

  function opened() {
    client.connect();
    client.setVisible(true);
    render();
    input.focus();
  }

  $('composer').addEventListener('submit', function (ev) {
    ev.preventDefault();
    if (client && client.send(input.value)) input.value = '';
    input.focus();
  });
  input.addEventListener('keydown', function (ev) {
    if (ev.key === 'Enter' && !ev.shiftKey) {
      ev.preventDefault();
      $('composer').requestSubmit();
    }
  });
  // Typing: said again every 3 s while keys are pressed, and "stopped" after 5 s without one.
  var typingUntil = 0,
    typingStop = null;
  input.addEventListener('input', function () {
    if (!client) return;
    if (Date.now() > typingUntil) {
      client.setTyping(true);
      typingUntil = Date.now() + 3000;
    }
    clearTimeout(typingStop);
    typingStop = setTimeout(function () {
      typingUntil = 0;
      client.setTyping(false);
    }, 5000);
  });
  document.addEventListener('keydown', function (ev) {
    if (ev.key === 'Escape') post({ type: 'close' });
  });
  $('close').addEventListener('click', function () {
    post({ type: 'close' });
  });

  window.addEventListener('message', function (ev) {
    if (ev.source !== window.parent || !ev.data || typeof ev.data.type !== 'string') return;
    if (ev.data.type === 'cb-webchat:init' && !client) {
      // The browser says which page embeds us; the server checks it against the site's origins.
      parentOrigin = ev.origin;
      var id = ev.data.identity,
        stored = ev.data.stored || {};
      var text = function (v) {
        return typeof v === 'string' ? v : null;
      };
      start(id && typeof id.userId === 'string' && typeof id.userHash === 'string' ? { userId: id.userId, userHash: id.userHash } : undefined, { token: text(stored.token), read: text(stored.read), outbox: text(stored.outbox) });
      if (open) opened();
    } else if (ev.data.type === 'cb-webchat:open') {
      open = true;
      if (client) opened(); // else once init came
    } else if (ev.data.type === 'cb-webchat:hidden') {
      open = false;
      if (client) client.setVisible(false);
    }
  });
  window.parent.postMessage({ type: 'cb-webchat:ready' }, '*');
})();
