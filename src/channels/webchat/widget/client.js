// The web chat client: the protocol and the transcript a widget shows, without any DOM (the
// frame draws it; the load test and the dev visitor run it in Node with the `ws` package).
// The transcript is what the server's stream says, in its order: an entry is shown once (its
// id must be past the last one shown), a resumed socket asks for what follows the last id
// shown, and the visitor's own messages wait in an outbox — resent after every reconnect
// until acknowledged — until their transcript entry arrives. See docs/channel-webchat.md.
(function (root) {
  'use strict';

  /** Stream ids "<ms>-<seq>" in order. */
  function compareIds(a, b) {
    var x = a.split('-'),
      y = b.split('-');
    return Number(x[0]) - Number(y[0]) || Number(x[1]) - Number(y[1]);
  }

  function newId(cryptoImpl) {
    if (cryptoImpl && cryptoImpl.randomUUID) return cryptoImpl.randomUUID();
    var b = new Uint8Array(16);
    cryptoImpl.getRandomValues(b);
    return Array.prototype.map
      .call(b, function (x) {
        return (x + 256).toString(16).slice(1);
      })
      .join('');
  }

  var TYPING_MS = 15000;

  /**
   * opts: url (ws URL), origin (the embedding page's origin), identity ({userId, userHash}) or
   * none, tokenStore and outboxStore ({get(key), set(key, value)}: where the token (all tabs)
   * and the unacknowledged messages (this tab) survive a reload), WebSocket, crypto,
   * onChange(client) after every change, setTimeout/clearTimeout (defaults: the globals).
   */
  function WebchatClient(opts) {
    this.o = opts;
    this.entries = [];
    this.outbox = load(opts.outboxStore, 'outbox');
    this.cursor = null;
    this.visitor = null;
    this.site = null;
    this.status = 'idle';
    this.error = null;
    this.seenCid = null;
    this.typing = null;
    this.visible = false;
    this.ws = null;
    this.backoff = 0;
    this.stopped = false;
    this.limits = { maxText: 2000 };
    this._timers = {};
    this.sentMsgs = {};
  }

  function load(store, key) {
    try {
      return JSON.parse((store && store.get(key)) || '[]');
    } catch (e) {
      return [];
    }
  }

  var P = WebchatClient.prototype;

  P._timer = function (name, ms, fn) {
    var t = this.o.setTimeout || setTimeout;
    (this.o.clearTimeout || clearTimeout)(this._timers[name]);
    this._timers[name] = t(fn, ms);
  };

  P._changed = function () {
    if (this.o.onChange) this.o.onChange(this);
  };

  P._saveOutbox = function () {
    if (this.o.outboxStore)
      this.o.outboxStore.set(
        'outbox',
        JSON.stringify(
          this.outbox.filter(function (m) {
            return !m.acked;
          }),
        ),
      );
  };

  P.connect = function () {
    if (this.ws || this.stopped) return;
    var self = this;
    this.status = this.visitor ? 'reconnecting' : 'connecting';
    var ws = new this.o.WebSocket(this.o.url);
    this.ws = ws;
    ws.onopen = function () {
      var hello = { t: 'hello', v: 1, origin: self.o.origin };
      if (self.o.identity) hello.identity = self.o.identity;
      else if (self.o.tokenStore && self.o.tokenStore.get('token')) hello.token = self.o.tokenStore.get('token');
      if (self.cursor) hello.after = self.cursor;
      ws.send(JSON.stringify(hello));
    };
    ws.onmessage = function (ev) {
      var f;
      try {
        f = JSON.parse(typeof ev.data === 'string' ? ev.data : String(ev.data));
      } catch (e) {
        return;
      }
      self._frame(f);
    };
    ws.onclose = function (ev) {
      if (self.ws !== ws) return;
      self.ws = null;
      self._closed(ev.code, ev.reason);
    };
    ws.onerror = function () {
      /* onclose follows */
    };
    this._changed();
  };

  P._closed = function (code, reason) {
    var self = this;
    if (this.stopped) return;
    if (code === 4403 || (code === 4401 && this.o.identity)) {
      // Not this page, or an identity the site did not sign: retrying cannot help.
      this.status = 'failed';
      this.error = reason || 'the chat is not available on this page';
      return this._changed();
    }
    if (code === 4401 && this.o.tokenStore) this.o.tokenStore.set('token', ''); // a token we cannot use: start afresh
    this.status = 'reconnecting';
    var delay = code === 4429 ? 10000 : Math.min(5000, 250 * Math.pow(2, this.backoff++)) * (0.5 + Math.random() / 2);
    this._timer('reconnect', delay, function () {
      self.connect();
    });
    this._changed();
  };

  P._frame = function (f) {
    if (f.t === 'welcome') return this._welcome(f);
    if (f.t === 'entry') return this._entry(f.id, f.e);
    if (f.t === 'ack') return this._acked(f.id);
    if (f.t === 'seen') {
      this.seenCid = f.cid;
      return this._changed();
    }
    if (f.t === 'typing') {
      var self = this;
      this.typing = f.on ? { by: f.by || 'bot' } : null;
      if (f.on)
        this._timer('typing', TYPING_MS, function () {
          self.typing = null;
          self._changed();
        });
      return this._changed();
    }
    if (f.t === 'error') return this._error(f);
  };

  P._welcome = function (f) {
    if (this.visitor && this.visitor !== f.visitor) {
      // Another visitor than before (the token was refused): their transcript is not ours.
      this.entries = [];
      this.cursor = null;
    }
    this.visitor = f.visitor;
    this.site = f.site;
    this.identified = f.identified;
    this.limits = f.limits || this.limits;
    this.truncated = f.truncated;
    if (f.seen) this.seenCid = f.seen;
    if (!this.cursor) this.cursor = f.from;
    if (!f.identified && this.o.tokenStore) this.o.tokenStore.set('token', f.token);
    this.status = 'online';
    this.error = null;
    this.backoff = 0;
    // Whatever was not acknowledged goes again, in order (the server drops what it already has).
    for (var i = 0; i < this.outbox.length; i++) if (!this.outbox[i].acked) this._sendMsg(this.outbox[i]);
    this._changed();
  };

  P._entry = function (id, e) {
    if (this.cursor && compareIds(id, this.cursor) <= 0) return; // shown already
    this.cursor = id;
    this.entries.push({ id: id, e: e });
    if (e.f === 'visitor') {
      this.outbox = this.outbox.filter(function (m) {
        return m.cid !== e.cid;
      });
      this._saveOutbox();
    } else {
      this.typing = null;
    }
    this._ackSoon();
    this._changed();
  };

  P._acked = function (cid) {
    for (var i = 0; i < this.outbox.length; i++) if (this.outbox[i].cid === cid) this.outbox[i].acked = true;
    this.delivered = this.delivered || {};
    this.delivered[cid] = true;
    this._saveOutbox();
    this._changed();
  };

  P._error = function (f) {
    var self = this;
    this.lastError = f;
    if (f.id && (f.code === 'rate_limited' || f.code === 'unavailable')) {
      // Kept in the outbox: sent again when the server can take it.
      this._timer('resend', f.retryMs || 2000, function () {
        for (var i = 0; i < self.outbox.length; i++) if (!self.outbox[i].acked) self._sendMsg(self.outbox[i]);
      });
    }
    this._changed();
  };

  P._sendMsg = function (m) {
    if (!this.ws || this.status !== 'online') return;
    var f = { t: 'msg', id: m.cid, kind: m.kind, text: m.text };
    if (m.payload !== undefined) f.payload = m.payload;
    this.ws.send(JSON.stringify(f));
  };

  /** Sends a message (kind text, or quick_reply / postback with a payload); returns its id. */
  P.send = function (text, kind, payload) {
    if (typeof text !== 'string' || !text.trim()) return null;
    var m = { cid: newId(this.o.crypto), kind: kind || 'text', text: text.slice(0, this.limits.maxText) };
    if (payload !== undefined) m.payload = payload;
    this.outbox.push(m);
    this.sentMsgs[m.cid] = m;
    this._saveOutbox();
    this._sendMsg(m);
    if (!this.ws) this.connect();
    this._changed();
    return m.cid;
  };

  /** Sends again a message the server may or may not have: what a reconnect does (tests use it to redeliver). */
  P.resend = function (cid) {
    var m = this.sentMsgs[cid];
    if (m) this._sendMsg(m);
  };

  P._ackSoon = function () {
    var self = this;
    this._timer('ack', 100, function () {
      if (!self.ws || self.status !== 'online' || !self.cursor) return;
      self.ws.send(JSON.stringify({ t: 'ack', id: self.cursor }));
      if (self.visible) self.ws.send(JSON.stringify({ t: 'read', id: self.cursor }));
    });
  };

  /** The panel is shown (read receipts) or hidden. */
  P.setVisible = function (visible) {
    this.visible = visible;
    if (visible) this._ackSoon();
  };

  P.setTyping = function (on) {
    if (this.ws && this.status === 'online') this.ws.send(JSON.stringify({ t: 'typing', on: on }));
  };

  P.stop = function () {
    this.stopped = true;
    for (var k in this._timers) (this.o.clearTimeout || clearTimeout)(this._timers[k]);
    if (this.ws) this.ws.close(1000, 'bye');
    this.ws = null;
  };

  /**
   * The index of the last entry the bot or an agent has seen: every visitor message at or
   * before it is seen (a reply follows it, or the seen mark is on it or after it); -1 if none.
   */
  P.seenUpTo = function () {
    for (var i = this.entries.length - 1; i >= 0; i--) {
      var e = this.entries[i].e;
      if (e.f !== 'visitor' || e.cid === this.seenCid) return i;
    }
    return -1;
  };

  var api = { WebchatClient: WebchatClient, compareIds: compareIds };
  if (typeof module === 'object' && module.exports) module.exports = api;
  else root.CbWebchat = api;
})(typeof self !== 'undefined' ? self : this);
