// src/codes.ts
var CloseCode = {
  NORMAL: 1e3,
  GOING_AWAY: 1001,
  PROTOCOL_ERROR: 1002,
  UNSUPPORTED_DATA: 1003,
  ABNORMAL: 1006,
  POLICY_VIOLATION: 1008,
  MESSAGE_TOO_BIG: 1009,
  INTERNAL_ERROR: 1011,
  TRY_AGAIN_LATER: 1013,
  SLOW_CONSUMER: 4e3,
  PONG_TIMEOUT: 4001,
  TOKEN_EXPIRED: 4002,
  SERVER_OVERLOAD: 4003,
  CONNECTION_LIMIT: 4500
};
var ACTIONS = /* @__PURE__ */ new Map([
  [CloseCode.NORMAL, "reconnect"],
  [CloseCode.GOING_AWAY, "reconnect"],
  [CloseCode.PROTOCOL_ERROR, "backoff"],
  [CloseCode.UNSUPPORTED_DATA, "stop"],
  [CloseCode.ABNORMAL, "reconnect"],
  [CloseCode.POLICY_VIOLATION, "stop"],
  [CloseCode.MESSAGE_TOO_BIG, "backoff"],
  [CloseCode.INTERNAL_ERROR, "backoff"],
  [CloseCode.TRY_AGAIN_LATER, "backoff"],
  [CloseCode.SLOW_CONSUMER, "reconnect"],
  [CloseCode.PONG_TIMEOUT, "reconnect"],
  [CloseCode.TOKEN_EXPIRED, "refresh"],
  [CloseCode.SERVER_OVERLOAD, "backoff"],
  [CloseCode.CONNECTION_LIMIT, "stop"]
]);
var BACKOFF_FLOOR_MS = 5e3;
function closeAction(code) {
  const known = ACTIONS.get(code);
  if (known !== void 0) return known;
  if (code >= 4e3 && code < 4500) return "backoff";
  if (code >= 4500 && code < 5e3) return "stop";
  return "reconnect";
}
var Backoff = class {
  attempt = 0;
  base;
  floor;
  max;
  random;
  constructor(options = {}) {
    this.base = options.base ?? 250;
    this.floor = options.floor ?? BACKOFF_FLOOR_MS;
    this.max = options.max ?? 3e4;
    this.random = options.random ?? Math.random;
  }
  /** The delay before the next attempt, in ms; counts the attempt. */
  next(action) {
    const ceiling = Math.min(this.max, this.base * 2 ** this.attempt);
    this.attempt += 1;
    const delay = Math.round(ceiling / 2 + this.random() * ceiling / 2);
    return action === "backoff" ? Math.max(this.floor, delay) : delay;
  }
  /** A connection was accepted: start again from the first delay. */
  reset() {
    this.attempt = 0;
  }
  get attempts() {
    return this.attempt;
  }
};

// src/emitter.ts
var Emitter = class {
  listeners = /* @__PURE__ */ new Map();
  /** Call `listener` on each `name` event; returns a function that removes it. */
  on(name, listener) {
    let set = this.listeners.get(name);
    if (set === void 0) {
      set = /* @__PURE__ */ new Set();
      this.listeners.set(name, set);
    }
    set.add(listener);
    return () => this.off(name, listener);
  }
  off(name, listener) {
    this.listeners.get(name)?.delete(listener);
  }
  /** Resolve with the next `name` event that passes `filter`. */
  once(name, filter = () => true) {
    return new Promise((resolve) => {
      const off = this.on(name, (p) => {
        if (filter(p)) {
          off();
          resolve(p);
        }
      });
    });
  }
  emit(name, payload) {
    for (const listener of [...this.listeners.get(name) ?? []]) {
      try {
        listener(payload);
      } catch (err) {
        queueMicrotask(() => {
          throw err;
        });
      }
    }
  }
};

// src/errors.ts
var ParleyError = class extends Error {
  /** `error.code` of a WebSocket reply or REST error (docs/protocol.md, docs/rest.md), or
   * one of the SDK's own: `timeout`, `disconnected`, `closed`, `queue_full`, `network`. */
  code;
  /** The HTTP status of a REST error (0 for WebSocket and local errors). */
  status;
  constructor(code, message, status = 0) {
    super(`${code}: ${message}`);
    this.name = "ParleyError";
    this.code = code;
    this.status = status;
  }
};

// src/token.ts
function tokenExpiry(token) {
  const part = token.split(".")[1];
  if (part === void 0) return null;
  try {
    const b64 = part.replace(/-/g, "+").replace(/_/g, "/");
    const padded = b64 + "=".repeat((4 - b64.length % 4) % 4);
    const claims = JSON.parse(atob(padded));
    return typeof claims.exp === "number" ? claims.exp : null;
  } catch {
    return null;
  }
}
var TokenSource = class {
  constructor(provider, marginMs = 3e4, now = Date.now) {
    this.provider = provider;
    this.marginMs = marginMs;
    this.now = now;
  }
  provider;
  marginMs;
  now;
  current = null;
  inflight = null;
  /** Whether a fresh token can be had (a callback, not a fixed string). */
  get refreshable() {
    return typeof this.provider === "function";
  }
  async get() {
    if (typeof this.provider === "string") return this.provider;
    if (this.current !== null && !this.expiring(this.current)) return this.current;
    if (this.inflight === null) {
      const provider = this.provider;
      this.inflight = (async () => {
        try {
          const token = await provider();
          this.current = token;
          return token;
        } finally {
          this.inflight = null;
        }
      })();
    }
    return this.inflight;
  }
  /** Forget the cached token: the next `get()` calls the provider. */
  invalidate() {
    this.current = null;
  }
  expiring(token) {
    const exp = tokenExpiry(token);
    return exp !== null && exp * 1e3 - this.now() < this.marginMs;
  }
};

// src/rest.ts
function newKey() {
  return crypto.randomUUID();
}
var ParleyRest = class {
  baseUrl;
  tokens;
  fetchImpl;
  constructor(options) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, "");
    this.tokens = options.token instanceof TokenSource ? options.token : new TokenSource(options.token);
    this.fetchImpl = options.fetch ?? ((input, init) => fetch(input, init));
  }
  /** One request; a JSON error body becomes a {@link ParleyError}. A 401 asks the token
   * source for a fresh token and retries once (when it can give one). */
  async request(method, path, options = {}) {
    let url = `${this.baseUrl}${path}`;
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(options.query ?? {})) {
      if (v !== void 0 && v !== null) params.set(k, String(v));
    }
    if ([...params].length > 0) url += `?${params}`;
    for (let attempt = 0; ; attempt++) {
      const headers = { ...options.headers };
      headers.Authorization = `Bearer ${await this.tokens.get()}`;
      if (options.idempotencyKey !== void 0) headers["Idempotency-Key"] = options.idempotencyKey;
      let body;
      const b = options.body;
      if (b instanceof Blob || b instanceof ArrayBuffer || b instanceof FormData) {
        body = b;
      } else if (b !== void 0) {
        body = JSON.stringify(b);
        headers["Content-Type"] = "application/json";
      }
      let res;
      try {
        res = await this.fetchImpl(url, { method, headers, body });
      } catch (err) {
        throw new ParleyError("network", String(err));
      }
      if (res.status === 401 && attempt === 0 && this.tokens.refreshable) {
        this.tokens.invalidate();
        continue;
      }
      if (res.status === 204) return void 0;
      const text = await res.text();
      let parsed = null;
      try {
        parsed = text ? JSON.parse(text) : null;
      } catch {
        parsed = null;
      }
      if (!res.ok) {
        const err = parsed?.error;
        throw new ParleyError(err?.code ?? "http_error", err?.message ?? `HTTP ${res.status}`, res.status);
      }
      return parsed;
    }
  }
  get(path, query) {
    return this.request("GET", path, { query });
  }
  post(path, body, idempotencyKey = newKey()) {
    return this.request("POST", path, { body, idempotencyKey });
  }
  /** Every channel of mine, following `next_cursor`. */
  async allChannels() {
    const out = [];
    let cursor;
    do {
      const page = await this.get("/v1/channels", { limit: 200, cursor });
      out.push(...page.items);
      cursor = page.next_cursor;
    } while (cursor);
    return out;
  }
  channel(id) {
    return this.get(`/v1/channels/${encodeURIComponent(id)}`);
  }
  /** Messages of a channel: newest first with `before`, oldest first with `after`. */
  messages(channel, query = {}) {
    return this.get(`/v1/channels/${encodeURIComponent(channel)}/messages`, query);
  }
  /** Every message after `after`, oldest first (follows `next_after`). */
  async messagesAfter(channel, after) {
    const out = [];
    let next = after;
    while (next !== null && next !== void 0) {
      const page = await this.messages(channel, { after: next, limit: 200 });
      out.push(...page.items);
      next = page.next_after;
    }
    return out;
  }
  createChannel(body) {
    return this.post("/v1/channels", body);
  }
  markRead(channel, seq) {
    return this.post(`/v1/channels/${encodeURIComponent(channel)}/read`, { seq });
  }
};

// src/seqs.ts
var SeqTracker = class {
  last = /* @__PURE__ */ new Map();
  held = /* @__PURE__ */ new Map();
  /** The last seq delivered in each channel. */
  positions() {
    return new Map(this.last);
  }
  lastSeq(channel) {
    return this.last.get(channel);
  }
  /** Start tracking `channel` at `seq` (e.g. its `last_seq` from REST, already shown); a
   * lower value than the one tracked is ignored. */
  seed(channel, seq) {
    const cur = this.last.get(channel);
    if (cur === void 0 || seq > cur) this.last.set(channel, seq);
  }
  forget(channel) {
    this.last.delete(channel);
    this.held.delete(channel);
  }
  /** Channels with events held behind a gap. */
  gaps() {
    const out = [];
    for (const [channel, held] of this.held) {
      const last = this.last.get(channel) ?? 0;
      const first = Math.min(...held.keys());
      out.push({ channel, from: last + 1, to: first - 1 });
    }
    return out;
  }
  accept(ev) {
    const last = this.last.get(ev.channel);
    if (last === void 0) {
      this.last.set(ev.channel, ev.seq);
      return { deliver: [ev], gap: null };
    }
    if (ev.seq <= last) return { deliver: [], gap: null };
    if (ev.seq === last + 1) {
      this.last.set(ev.channel, ev.seq);
      return { deliver: [ev, ...this.drain(ev.channel)], gap: null };
    }
    let held = this.held.get(ev.channel);
    const fresh = held === void 0;
    if (held === void 0) {
      held = /* @__PURE__ */ new Map();
      this.held.set(ev.channel, held);
    }
    if (held.has(ev.seq)) return { deliver: [], gap: null };
    held.set(ev.seq, ev);
    return { deliver: [], gap: fresh ? { channel: ev.channel, from: last + 1, to: ev.seq - 1 } : null };
  }
  /** Give up on the seqs up to `seq` that never came (they were filled another way, or the
   * subscription's pattern does not cover them): deliver the held events up to there in
   * order (except those whose seq is in `skip`), then carry on from `seq`. */
  skipTo(channel, seq, skip = /* @__PURE__ */ new Set()) {
    const last = this.last.get(channel) ?? 0;
    const held = this.held.get(channel);
    const out = [];
    const top = Math.max(last, seq);
    if (held !== void 0) {
      for (const s of [...held.keys()].sort((a, b) => a - b)) {
        if (s > seq) break;
        const ev = held.get(s);
        held.delete(s);
        if (ev !== void 0 && !skip.has(s) && s > last) out.push(ev);
      }
      if (held.size === 0) this.held.delete(channel);
    }
    this.last.set(channel, top);
    out.push(...this.drain(channel));
    return out;
  }
  drain(channel) {
    const held = this.held.get(channel);
    if (held === void 0) return [];
    const out = [];
    let next = (this.last.get(channel) ?? 0) + 1;
    for (let ev = held.get(next); ev !== void 0; ev = held.get(next)) {
      out.push(ev);
      held.delete(next);
      this.last.set(channel, next);
      next += 1;
    }
    for (const s of [...held.keys()]) if (s < next) held.delete(s);
    if (held.size === 0) this.held.delete(channel);
    return out;
  }
};

// src/topics.ts
function intersects(a, b) {
  return inter(a.split("."), 0, b.split("."), 0);
}
function inter(a, i, b, j) {
  if (i === a.length && j === b.length) return true;
  if (i < a.length && a[i] === ">") return j < b.length;
  if (j < b.length && b[j] === ">") return i < a.length;
  if (i === a.length || j === b.length) return false;
  if (a[i] === "*" || b[j] === "*" || a[i] === b[j]) return inter(a, i + 1, b, j + 1);
  return false;
}
function covers(outer, inner) {
  const o = outer.split(".");
  const n = inner.split(".");
  for (let i = 0; i < o.length; i++) {
    const seg = o[i];
    if (seg === ">") return n.length > i;
    const s = n[i];
    if (s === void 0 || s === ">") return false;
    if (seg !== "*" && seg !== s) return false;
  }
  return o.length === n.length;
}
function channelTopics(org, channel = "*") {
  return `events.${org}.conversations.conversation.*.${channel}`;
}
function matches(pattern, topic) {
  return covers(pattern, topic);
}

// src/client.ts
var MAX_SINCE_CHANNELS = 100;
var MAX_SINCE_ENTRIES = 1e3;
var TYPING_EVERY_MS = 2500;
function refused(err) {
  return err instanceof ParleyError && !["disconnected", "timeout", "closed"].includes(err.code);
}
var HELLO_TIMEOUT_MS = 15e3;
var ParleyClient = class extends Emitter {
  seqs = new SeqTracker();
  rest;
  tokens;
  url;
  WS;
  backoff;
  replyTimeout;
  maxQueue;
  detectGaps;
  refreshMarginMs;
  currentState = "idle";
  ws = null;
  generation = 0;
  nextId = 1;
  pending = /* @__PURE__ */ new Map();
  subs = /* @__PURE__ */ new Map();
  queue = [];
  helloFrame = null;
  connectedOnce = false;
  resuming = false;
  refreshes = 0;
  stopped = false;
  presenceStatus = "online";
  recoveryChain = Promise.resolve();
  fillScheduled = false;
  reconnectTimer = null;
  refreshTimer = null;
  heartbeatTimer = null;
  helloTimer = null;
  typingSent = /* @__PURE__ */ new Map();
  typingNow = /* @__PURE__ */ new Map();
  presenceNow = /* @__PURE__ */ new Map();
  constructor(options) {
    super();
    this.url = options.url;
    this.tokens = new TokenSource(options.token);
    this.rest = options.rest === void 0 ? null : typeof options.rest === "string" ? new ParleyRest({ baseUrl: options.rest, token: this.tokens }) : options.rest;
    const WS = options.WebSocket ?? globalThis.WebSocket;
    if (WS === void 0) throw new ParleyError("unsupported", "no WebSocket implementation (pass options.WebSocket)");
    this.WS = WS;
    this.backoff = new Backoff(options.backoff);
    this.replyTimeout = options.replyTimeout ?? 1e4;
    this.maxQueue = options.maxQueue ?? 1e3;
    this.detectGaps = options.detectGaps ?? true;
    this.refreshMarginMs = options.refreshMarginMs;
  }
  get state() {
    return this.currentState;
  }
  /** The current connection's `hello` (null while disconnected). */
  get hello() {
    return this.helloFrame;
  }
  /** Sends waiting for a connection (or for their reply). */
  get queued() {
    return this.queue.length;
  }
  // --- lifecycle ----------------------------------------------------------------------
  /** Connect (and keep reconnecting); resolves once the first connection is resumed. */
  connect() {
    if (this.currentState === "idle" || this.currentState === "closed") {
      this.stopped = false;
      void this.open();
    }
    return this.whenOpen();
  }
  /** Resolve when the client is connected and resumed; reject if it stops first. */
  whenOpen() {
    if (this.currentState === "open" && this.helloFrame !== null) return Promise.resolve(this.helloFrame);
    return new Promise((resolve, reject) => {
      const off = this.on("state", ({ state }) => {
        if (state === "open" && this.helloFrame !== null) {
          off();
          resolve(this.helloFrame);
        } else if (state === "closed" || state === "idle" && this.stopped) {
          off();
          reject(new ParleyError("closed", "the client stopped"));
        }
      });
    });
  }
  /** Go offline, keeping subscriptions, seq positions and queued sends: `connect()`
   * later resumes where this left off. */
  disconnect() {
    this.stopped = true;
    this.clearTimers();
    if (this.reconnectTimer !== null) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    const ws = this.ws;
    this.generation++;
    this.ws = null;
    this.helloFrame = null;
    this.resuming = false;
    for (const sub of this.subs.values()) sub.active = false;
    this.failPending(new ParleyError("disconnected", "the client went offline"), false);
    if (ws !== null) {
      try {
        ws.close(1e3, "client offline");
      } catch {
      }
    }
    this.setState("idle");
  }
  /** Close for good: no reconnect; queued sends are rejected with `closed`. */
  close() {
    this.stopped = true;
    this.clearTimers();
    if (this.reconnectTimer !== null) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    const ws = this.ws;
    this.generation++;
    this.ws = null;
    this.helloFrame = null;
    this.failPending(new ParleyError("closed", "the client was closed"), true);
    if (ws !== null) {
      try {
        ws.close(1e3, "client closed");
      } catch {
      }
    }
    this.setState("closed");
  }
  async open() {
    const gen = ++this.generation;
    this.setState(this.connectedOnce ? "reconnecting" : "connecting");
    let token;
    try {
      token = await this.tokens.get();
    } catch (err) {
      this.emit("error", { message: "could not get a token", cause: err });
      this.scheduleReconnect(1006, "token provider failed", "reconnect");
      return;
    }
    if (gen !== this.generation || this.stopped) return;
    const sep = this.url.includes("?") ? "&" : "?";
    let ws;
    try {
      ws = new this.WS(`${this.url}${sep}access_token=${encodeURIComponent(token)}`);
    } catch (err) {
      this.emit("error", { message: "could not open a WebSocket", cause: err });
      this.scheduleReconnect(1006, "bad url", "stop");
      return;
    }
    this.ws = ws;
    ws.onmessage = (m) => {
      if (gen === this.generation && typeof m.data === "string") this.onFrame(m.data);
    };
    ws.onclose = (e) => {
      if (gen === this.generation) this.onClose(e.code, e.reason);
    };
    ws.onerror = () => {
      if (gen === this.generation && ws.readyState === ws.CONNECTING) this.drop(1006, "connection failed");
    };
    this.helloTimer = setTimeout(() => {
      if (gen === this.generation && this.helloFrame === null) this.drop(1006, "no hello from the server");
    }, HELLO_TIMEOUT_MS);
  }
  /** Drop the current connection as if it had closed with `code`. */
  drop(code, reason) {
    const ws = this.ws;
    this.generation++;
    if (ws !== null) {
      try {
        ws.close(1e3, reason);
      } catch {
      }
    }
    this.onClose(code, reason);
  }
  onClose(code, reason) {
    this.ws = null;
    this.helloFrame = null;
    this.resuming = false;
    this.clearTimers();
    for (const sub of this.subs.values()) sub.active = false;
    this.failPending(new ParleyError("disconnected", `connection closed (${code})`), false);
    if (this.stopped) return;
    let action = closeAction(code);
    if (action === "refresh" && !this.tokens.refreshable) action = "stop";
    this.scheduleReconnect(code, reason, action);
  }
  scheduleReconnect(code, reason, action) {
    if (action === "stop") {
      this.emit("disconnect", { code, reason, action, delay: 0 });
      this.stopped = true;
      for (const q of this.queue.splice(0)) q.reject(new ParleyError("closed", `connection refused (${code} ${reason})`));
      this.setState("closed");
      return;
    }
    let delay;
    if (action === "refresh") {
      this.tokens.invalidate();
      delay = this.refreshes++ === 0 ? 0 : this.backoff.next("reconnect");
    } else {
      delay = this.backoff.next(action);
    }
    this.emit("disconnect", { code, reason, action, delay });
    this.setState("reconnecting");
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      if (!this.stopped) void this.open();
    }, delay);
  }
  setState(state) {
    const previous = this.currentState;
    if (previous === state) return;
    this.currentState = state;
    this.emit("state", { state, previous });
  }
  clearTimers() {
    if (this.helloTimer !== null) clearTimeout(this.helloTimer);
    this.helloTimer = null;
    if (this.refreshTimer !== null) clearTimeout(this.refreshTimer);
    if (this.heartbeatTimer !== null) clearInterval(this.heartbeatTimer);
    this.refreshTimer = null;
    this.heartbeatTimer = null;
  }
  /** Reject what waits for a reply; queued sends go back to waiting (unless `all`). */
  failPending(err, all) {
    for (const [id, p] of this.pending) {
      if (p.timer !== null) clearTimeout(p.timer);
      this.pending.delete(id);
      p.reject(err);
    }
    if (all) for (const q of this.queue.splice(0)) q.reject(err);
  }
  // --- frames -------------------------------------------------------------------------
  onFrame(text) {
    let frame;
    try {
      frame = JSON.parse(text);
    } catch (err) {
      this.emit("error", { message: "a frame that is not JSON", cause: err });
      return;
    }
    if ("ok" in frame) {
      const id = frame.id;
      const p = typeof id === "number" ? this.pending.get(id) : void 0;
      if (p === void 0 || typeof id !== "number") {
        this.emit("error", { message: `a reply to no request: ${text.slice(0, 200)}` });
        return;
      }
      this.pending.delete(id);
      if (p.timer !== null) clearTimeout(p.timer);
      const reply = frame;
      if (reply.ok) p.resolve(reply);
      else p.reject(new ParleyError(reply.error?.code ?? "internal", reply.error?.message ?? "refused"));
      return;
    }
    switch (frame.type) {
      case "hello":
        void this.onHello(frame);
        return;
      case "event":
        this.onEvent(frame);
        return;
      case "presence": {
        const p = frame;
        for (const u of p.users) this.presenceNow.set(u.user_id, u);
        this.emit("presence", p);
        return;
      }
      default:
        this.emit("error", { message: `an unknown push: ${String(frame.type)}` });
    }
  }
  async onHello(hello) {
    const gen = this.generation;
    this.helloFrame = hello;
    this.connectedOnce = true;
    if (this.helloTimer !== null) clearTimeout(this.helloTimer);
    this.helloTimer = null;
    this.backoff.reset();
    this.refreshes = 0;
    this.emit("hello", hello);
    this.scheduleRefresh(hello);
    this.startHeartbeat(hello);
    this.resuming = true;
    try {
      for (const sub of [...this.subs.values()]) {
        if (gen !== this.generation) return;
        try {
          await this.subscribeNow(sub);
        } catch (err) {
          if (!refused(err)) throw err;
          this.subs.delete(sub.pattern);
          sub.error = err;
          this.emit("error", { message: `subscribe ${sub.pattern} refused`, cause: err });
        }
      }
      if (gen !== this.generation) return;
      if (this.presenceStatus !== "online") await this.request("presence", { status: this.presenceStatus });
    } catch (err) {
      if (gen !== this.generation) return;
      this.emit("error", { message: "resume failed", cause: err });
      if (err instanceof ParleyError && err.code === "timeout") this.drop(1006, "resume timed out");
      return;
    } finally {
      if (gen === this.generation) this.resuming = false;
    }
    this.setState("open");
    this.pump();
  }
  onEvent(frame) {
    if (typeof frame.seq === "number" && typeof frame.channel === "string" && typeof frame.event === "string") {
      const { deliver, gap } = this.seqs.accept(frame);
      this.deliver(deliver);
      if (gap !== null && this.detectGaps && !this.resuming && this.gapsDetectable()) this.scheduleFill();
      return;
    }
    if (frame.channel !== void 0) {
      if (frame.event === "typing") {
        const user = String(frame.data.user_id ?? "");
        const expiresIn = Number(frame.data.expires_in ?? 5);
        let users = this.typingNow.get(frame.channel);
        if (users === void 0) this.typingNow.set(frame.channel, users = /* @__PURE__ */ new Map());
        users.set(user, Date.now() + expiresIn * 1e3);
        this.emit("typing", { channel: frame.channel, user_id: user, expires_in: expiresIn });
      } else if (frame.event === "read_receipt") {
        this.emit("receipt", {
          channel: frame.channel,
          user_id: String(frame.data.user_id ?? ""),
          seq: Number(frame.data.seq ?? 0)
        });
      }
    }
    this.emit("event", frame);
  }
  deliver(events) {
    for (const ev of events) {
      if (ev.event === "message_posted") {
        this.typingNow.get(ev.channel)?.delete(String(ev.data.author ?? ""));
      }
      this.emit("event", ev);
      this.emit("channel", ev);
      if (ev.event === "message_posted") this.emit("message", ev);
    }
  }
  // --- subscriptions and recovery -------------------------------------------------------
  /** Subscribe to `pattern` (wildcards `*` and `>`), now and after every reconnect. */
  async subscribe(pattern) {
    let sub = this.subs.get(pattern);
    if (sub === void 0) {
      sub = { pattern, active: false, reply: null, error: null };
      this.subs.set(pattern, sub);
    }
    if (this.currentState !== "open" || this.helloFrame === null) {
      await this.whenOpen();
      if (sub.error !== null) throw sub.error;
      return sub.reply ?? { topic: pattern };
    }
    try {
      return await this.subscribeNow(sub);
    } catch (err) {
      if (refused(err)) this.subs.delete(pattern);
      throw err;
    }
  }
  async unsubscribe(pattern) {
    const sub = this.subs.get(pattern);
    this.subs.delete(pattern);
    if (sub?.active && this.currentState === "open") {
      sub.active = false;
      await this.request("unsubscribe", { topic: pattern });
    }
  }
  /** Whether `pattern` reaches some channel-log topic, and whether all of them. */
  channelReach(pattern) {
    const org = this.helloFrame?.org ?? pattern.split(".")[1] ?? "";
    const all = channelTopics(org);
    if (covers(pattern, all)) return "all";
    return intersects(pattern, all) ? "some" : "none";
  }
  /** Gaps mean something only if a subscription covers every channel-log event. */
  gapsDetectable() {
    const sub = this.recoverySub();
    return sub !== void 0 && this.channelReach(sub.pattern) === "all";
  }
  /** The subscription that carries `since`: the first that covers all channel events,
   * else the first that reaches some. */
  recoverySub() {
    const subs = [...this.subs.values()];
    return subs.find((s) => this.channelReach(s.pattern) === "all") ?? subs.find((s) => this.channelReach(s.pattern) === "some");
  }
  /** Send `subscribe` for `sub`. The recovery subscription carries `since` (every position
   * tracked) and `resume_all` (channels joined while offline), then subscribes again for
   * what the reply leaves over: channels in `more`, and `recovered: false` ones from their
   * new position (docs/protocol.md, "Reconnect recipe", step 4). `only`: a gap fill on a
   * live connection, for those channels alone. One recovering subscribe at a time. */
  subscribeNow(sub, only) {
    const run = async () => {
      const fields = { topic: sub.pattern };
      const carries = this.recoverySub() === sub;
      if (carries && only !== void 0) {
        fields.since = Object.fromEntries(only.map((c) => [c, this.seqs.lastSeq(c) ?? null]));
      } else if (carries) {
        const positions = [...this.seqs.positions()].slice(0, MAX_SINCE_ENTRIES);
        if (positions.length) fields.since = Object.fromEntries(positions);
        fields.resume_all = true;
      }
      let reply = await this.request("subscribe", fields);
      sub.active = true;
      sub.reply = reply;
      if (!carries) return reply;
      const todo = /* @__PURE__ */ new Set();
      for (let round = 0; ; round++) {
        for (const c of this.applyRecovery(reply)) todo.add(c);
        if (todo.size === 0 || round >= 1e3 || this.subs.get(sub.pattern) !== sub) break;
        const next2 = [...todo].slice(0, MAX_SINCE_CHANNELS);
        for (const c of next2) todo.delete(c);
        const since = Object.fromEntries(next2.map((c) => [c, this.seqs.lastSeq(c) ?? null]));
        reply = await this.request("subscribe", { topic: sub.pattern, since });
      }
      return sub.reply;
    };
    const next = this.recoveryChain.then(run, run);
    this.recoveryChain = next.catch(() => void 0);
    return next;
  }
  /** Apply a subscribe reply's `recovery` and `more`; return the channels to ask again. */
  applyRecovery(reply) {
    const again = [];
    for (const [channel, r] of Object.entries(reply.recovery ?? {})) {
      if (r.error !== void 0) {
        if (r.error.code === "not_found") this.seqs.forget(channel);
        continue;
      }
      const to = r.replayed_to ?? 0;
      if (this.seqs.lastSeq(channel) === void 0) {
        this.seqs.seed(channel, to);
        this.emit("joined", { channel, seq: to });
      } else {
        const before = this.seqs.gaps().find((g) => g.channel === channel);
        this.deliver(this.seqs.skipTo(channel, to));
        if (before !== void 0 && before.from <= to) this.emit("gap", { ...before, filled: r.replayed ?? 0 });
      }
      if (r.recovered === false) again.push(channel);
    }
    again.push(...reply.more ?? []);
    return again;
  }
  /** A gap on a live connection: subscribe the pattern again with `since` for the gapped
   * channels, once the current frames are handled. */
  scheduleFill() {
    if (this.fillScheduled) return;
    this.fillScheduled = true;
    setTimeout(() => {
      this.fillScheduled = false;
      const sub = this.recoverySub();
      const gaps = this.seqs.gaps().map((g) => g.channel);
      if (sub === void 0 || this.currentState !== "open" || gaps.length === 0) return;
      this.subscribeNow(sub, gaps.slice(0, MAX_SINCE_CHANNELS)).then(
        () => {
          if (this.seqs.gaps().length) this.scheduleFill();
        },
        (err) => this.emit("error", { message: "gap fill failed", cause: err })
      );
    }, 0);
  }
  // --- requests -----------------------------------------------------------------------
  /** Send one command now and resolve with its reply (matched by `id`); reject with the
   * server's error, `timeout`, or `disconnected`. */
  request(op, fields = {}, timeout = this.replyTimeout) {
    const ws = this.ws;
    if (ws === null || this.helloFrame === null) {
      return Promise.reject(new ParleyError("disconnected", "not connected"));
    }
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = timeout > 0 ? setTimeout(() => {
        this.pending.delete(id);
        reject(new ParleyError("timeout", `no reply to ${op} within ${timeout} ms`));
      }, timeout) : null;
      this.pending.set(id, { resolve, reject, timer });
      try {
        ws.send(JSON.stringify({ ...fields, id, op }));
      } catch (err) {
        if (timer !== null) clearTimeout(timer);
        this.pending.delete(id);
        reject(new ParleyError("disconnected", String(err)));
      }
    });
  }
  /** Send once connected (kept in order while offline, and sent again after a reconnect
   * if the reply was lost); only for commands safe to repeat (posts carry an
   * idempotency key). */
  send(op, fields) {
    if (this.stopped && this.currentState === "closed") {
      return Promise.reject(new ParleyError("closed", "the client is closed"));
    }
    if (this.queue.length >= this.maxQueue) {
      return Promise.reject(new ParleyError("queue_full", `${this.maxQueue} sends already waiting`));
    }
    return new Promise((resolve, reject) => {
      this.queue.push({ op, fields, resolve, reject, sent: false });
      this.pump();
    });
  }
  pump() {
    if (this.currentState !== "open" || this.resuming) return;
    for (const q of this.queue) {
      if (q.sent) continue;
      q.sent = true;
      this.request(q.op, q.fields, 0).then(
        (reply) => {
          this.queue.splice(this.queue.indexOf(q), 1);
          q.resolve(reply);
        },
        (err) => {
          if (err.code === "disconnected") {
            q.sent = false;
            return;
          }
          this.queue.splice(this.queue.indexOf(q), 1);
          q.reject(err);
        }
      );
    }
  }
  /** Post a message; queued while offline; a retry never posts twice. */
  async post(channel, text, options = {}) {
    const reply = await this.send("post", { channel, text, idempotency_key: options.idempotencyKey ?? newKey() });
    return reply;
  }
  /** Reply in a thread (`also_send_to_channel` shows it in the channel too). */
  async reply(channel, root, text, options = {}) {
    const fields = { channel, root, text, idempotency_key: options.idempotencyKey ?? newKey() };
    if (options.alsoSendToChannel) fields.also_send_to_channel = true;
    return await this.send("reply", fields);
  }
  react(channel, messageId, emoji, remove = false) {
    return this.send("react", { channel, message_id: messageId, emoji, remove });
  }
  edit(channel, messageId, text) {
    return this.send("edit", { channel, message_id: messageId, text });
  }
  deleteMessage(channel, messageId) {
    return this.send("delete", { channel, message_id: messageId });
  }
  /** Move my read position in `channel` to `seq` (a `read_receipt` to the members). */
  read(channel, seq) {
    return this.send("read", { channel, seq });
  }
  publish(topic, data) {
    return this.request("publish", { topic, data });
  }
  // --- typing and presence --------------------------------------------------------------
  /** Say I am typing in `channel` (at most one push every 2.5 s; dropped while offline). */
  typing(channel) {
    const now = Date.now();
    if (this.currentState !== "open" || now - (this.typingSent.get(channel) ?? 0) < TYPING_EVERY_MS) return;
    this.typingSent.set(channel, now);
    this.request("typing", { channel }).catch(() => void 0);
  }
  /** Who is typing in `channel` now (their typing pushes have not expired). */
  typingIn(channel) {
    const now = Date.now();
    const users = this.typingNow.get(channel);
    if (users === void 0) return [];
    for (const [u, until] of users) if (until <= now) users.delete(u);
    return [...users.keys()].filter((u) => u !== this.helloFrame?.user);
  }
  /** Set this connection's presence (kept across reconnects). */
  async setPresence(status) {
    this.presenceStatus = status;
    if (this.currentState === "open") await this.request("presence", { status });
  }
  /** The last presence pushed for `user` (null before any). */
  presenceOf(user) {
    return this.presenceNow.get(user) ?? null;
  }
  // --- token refresh and heartbeat ------------------------------------------------------
  scheduleRefresh(hello) {
    if (!this.tokens.refreshable || !hello.expires_at) return;
    const left = hello.expires_at * 1e3 - Date.now();
    const margin = this.refreshMarginMs ?? Math.min(6e4, Math.max(1e3, left / 10));
    const gen = this.generation;
    this.refreshTimer = setTimeout(() => {
      this.refreshTimer = null;
      void this.refreshToken(gen);
    }, Math.max(0, left - margin));
  }
  async refreshToken(gen) {
    try {
      this.tokens.invalidate();
      const token = await this.tokens.get();
      const reply = await this.request("refresh", { token });
      if (gen !== this.generation || this.helloFrame === null) return;
      this.helloFrame = { ...this.helloFrame, expires_at: Number(reply.expires_at) };
      this.scheduleRefresh(this.helloFrame);
    } catch (err) {
      this.emit("error", { message: "token refresh failed", cause: err });
    }
  }
  startHeartbeat(hello) {
    const every = (hello.keepalive?.interval ?? 25) * 1e3;
    const wait = (hello.keepalive?.timeout ?? 10) * 1e3;
    const gen = this.generation;
    this.heartbeatTimer = setInterval(() => {
      this.request("ping", {}, wait).catch((err) => {
        if (err.code === "timeout" && gen === this.generation) this.drop(4001, "no reply to ping");
      });
    }, every);
  }
};
export {
  BACKOFF_FLOOR_MS,
  Backoff,
  CloseCode,
  Emitter,
  MAX_SINCE_CHANNELS,
  MAX_SINCE_ENTRIES,
  ParleyClient,
  ParleyError,
  ParleyRest,
  SeqTracker,
  TokenSource,
  channelTopics,
  closeAction,
  covers,
  intersects,
  matches,
  newKey,
  tokenExpiry
};
