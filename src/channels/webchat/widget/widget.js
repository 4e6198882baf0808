// The web chat loader: what a site embeds with
//   <script src="https://<host>/webchat/widget.js" data-account="<site id>" async></script>
// (and, for a logged-in user, data-user-id and data-user-hash = hex HMAC-SHA256 of the id with
// the site's identitySecret). It adds a chat button and a frame served by the chatbot; all the
// chat runs in that frame, under the chatbot's own CSP, so the host page needs neither inline
// script nor eval, only `script-src` and `frame-src` for <host>. The button lives in a shadow
// root and is styled through the CSSOM (never a style attribute or sheet, which a
// strict style-src would block), so the page's CSS cannot reach it.
(function () {
  'use strict';
  var script = document.currentScript;
  if (!script || !script.src) return;
  var account = script.getAttribute('data-account');
  if (!account) {
    console.warn('chat widget: data-account (the web chat site id) is missing on the script tag');
    return;
  }
  var base = new URL(script.src).origin;
  var identity = script.getAttribute('data-user-id') && script.getAttribute('data-user-hash') ? { userId: script.getAttribute('data-user-id'), userHash: script.getAttribute('data-user-hash') } : null;
  var SVG = 'http://www.w3.org/2000/svg';

  function styled(tag, style, attrs) {
    var e = document.createElement(tag);
    Object.assign(e.style, style);
    for (var k in attrs || {}) e.setAttribute(k, attrs[k]);
    return e;
  }

  function icon() {
    var svg = document.createElementNS(SVG, 'svg');
    svg.setAttribute('viewBox', '0 0 24 24');
    svg.setAttribute('width', '28');
    svg.setAttribute('height', '28');
    svg.setAttribute('aria-hidden', 'true');
    var path = document.createElementNS(SVG, 'path');
    path.setAttribute('fill', 'currentColor');
    path.setAttribute('d', 'M4 3h16a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H8l-5 4V5a2 2 0 0 1 1-2z');
    svg.append(path);
    return svg;
  }

  // The visitor's token and marks live in the host page's storage (first party: kept by every
  // browser), handed to the frame at start and updated when it asks.
  var KEY = 'cbwc:' + account + ':';
  var KEPT = { token: 'local', read: 'local', outbox: 'session' };
  function storage(kind) {
    try {
      var s = window[kind === 'local' ? 'localStorage' : 'sessionStorage'];
      s.setItem(KEY + 'probe', '1');
      s.removeItem(KEY + 'probe');
      return s;
    } catch (e) {
      return null; // storage blocked: the chat works for this page view only
    }
  }
  var stores = { local: storage('local'), session: storage('session') };
  function stored() {
    var out = {};
    for (var k in KEPT) out[k] = stores[KEPT[k]] ? stores[KEPT[k]].getItem(KEY + k) : null;
    return out;
  }

  function mount() {
    var host = styled('div', { all: 'initial', position: 'fixed', right: '16px', bottom: '16px', zIndex: '2147483000' }, { 'data-chatbot-webchat': account });
    var root = host.attachShadow ? host.attachShadow({ mode: 'open' }) : host;
    var button = styled(
      'button',
      {
        width: '60px',
        height: '60px',
        borderRadius: '50%',
        border: '0',
        background: '#0866ff',
        color: '#fff',
        cursor: 'pointer',
        boxShadow: '0 4px 12px rgba(0,0,0,.25)',
        display: 'flex',
        alignItems: 'center',
        justifyContent: 'center',
        position: 'relative',
        padding: '0',
      },
      { type: 'button', 'aria-label': 'Open the chat', 'aria-expanded': 'false', 'aria-haspopup': 'dialog', 'data-testid': 'wc-launcher' },
    );
    button.append(icon());
    var badge = styled(
      'span',
      {
        position: 'absolute',
        top: '-4px',
        right: '-4px',
        minWidth: '20px',
        height: '20px',
        borderRadius: '10px',
        background: '#e41e3f',
        color: '#fff',
        font: 'bold 12px/20px system-ui, sans-serif',
        textAlign: 'center',
        padding: '0 5px',
        display: 'none',
      },
      { 'data-testid': 'wc-badge' },
    );
    button.append(badge);
    var frame = styled(
      'iframe',
      { border: '0', borderRadius: '12px', boxShadow: '0 8px 28px rgba(0,0,0,.3)', background: '#fff', display: 'none', position: 'fixed' },
      {
        src: base + '/webchat/frame?account=' + encodeURIComponent(account),
        title: 'Chat',
        'data-testid': 'wc-frame',
        referrerpolicy: 'origin',
      },
    );
    root.append(frame, button);
    document.body.append(host);

    var phone = window.matchMedia('(max-width: 480px)');
    var isOpen = false;
    function place() {
      if (phone.matches) Object.assign(frame.style, { left: '0', top: '0', right: '0', bottom: '0', width: '100vw', height: '100%', borderRadius: '0' });
      else Object.assign(frame.style, { left: 'auto', top: 'auto', right: '16px', bottom: '88px', width: '370px', height: 'min(600px, calc(100vh - 110px))', borderRadius: '12px' });
      button.style.display = isOpen && phone.matches ? 'none' : 'flex';
    }
    function send(msg) {
      frame.contentWindow.postMessage(msg, base);
    }
    function setOpen(open) {
      isOpen = open;
      frame.style.display = open ? 'block' : 'none';
      button.setAttribute('aria-expanded', String(open));
      button.setAttribute('aria-label', open ? 'Close the chat' : 'Open the chat');
      place();
      if (open) {
        frame.focus();
        send({ type: 'cb-webchat:open' });
      } else {
        send({ type: 'cb-webchat:hidden' });
        button.focus();
      }
    }
    place();
    if (phone.addEventListener) phone.addEventListener('change', place);
    button.addEventListener('click', function () {
      setOpen(!isOpen);
    });
    window.addEventListener('message', function (ev) {
      if (ev.source !== frame.contentWindow || ev.origin !== base || !ev.data) return;
      if (ev.data.type === 'cb-webchat:ready') send({ type: 'cb-webchat:init', identity: identity, stored: stored() });
      else if (ev.data.type === 'cb-webchat:store' && KEPT[ev.data.key] === ev.data.kind && typeof ev.data.value === 'string' && stores[ev.data.kind]) {
        stores[ev.data.kind].setItem(KEY + ev.data.key, ev.data.value);
      } else if (ev.data.type === 'cb-webchat:close' && isOpen) setOpen(false);
      else if (ev.data.type === 'cb-webchat:unread') {
        var n = Number(ev.data.count) || 0;
        badge.textContent = n > 9 ? '9+' : String(n);
        badge.style.display = n > 0 && !isOpen ? 'block' : 'none';
        button.setAttribute('aria-label', (isOpen ? 'Close the chat' : 'Open the chat') + (n > 0 && !isOpen ? ' (' + n + ' unread)' : ''));
      }
    });
  }

  if (document.body) mount();
  else document.addEventListener('DOMContentLoaded', mount);
})();
