/** The WebSocket client: one connection at a time, reconnected by close code with jittered
 * backoff, resumed with `since` so channel-log events arrive exactly once and in order
 * (docs/protocol.md, "Reconnect recipe"; docs/clients.md, "JavaScript SDK"). */

import { Backoff, type BackoffOptions, closeAction } from "./codes.js";
import { Emitter } from "./emitter.js";
import { ParleyError } from "./errors.js";
import { ParleyRest, newKey } from "./rest.js";
import { SeqTracker } from "./seqs.js";
import { TokenSource, type TokenProvider } from "./token.js";
import { channelTopics, covers, intersects } from "./topics.js";
import type {
  ChannelEvent,
  ClientEvents,
  ConnectionState,
  EventFrame,
  Hello,
  Json,
  JsonObject,
  PostReply,
  PresenceFrame,
  PresenceUser,
  Reply,
  SubscribeReply,
} from "./types.js";

/** Channels one `subscribe` replays at most; the rest come back in `more`
 * (docs/protocol.md, Recovery). */
export const MAX_SINCE_CHANNELS = 100;
/** Most `since` entries one subscribe takes. */
export const MAX_SINCE_ENTRIES = 1000;

export interface ClientOptions {
  /** The broker endpoint, e.g. `ws://127.0.0.1:8765/ws`. */
  url: string;
  /** A token, or a callback fetching one (called again before expiry and on 4002). */
  token: TokenProvider;
  /** The REST API (a base URL such as `http://127.0.0.1:8080`, or a client), sharing the
   * token source: `client.rest`. */
  rest?: string | ParleyRest;
  /** A WebSocket constructor (default: the global one). */
  WebSocket?: typeof WebSocket;
  backoff?: BackoffOptions;
  /** Reply timeout of `request` in ms (default 10000). */
  replyTimeout?: number;
  /** Most sends kept while offline (default 1000); beyond, `queue_full`. */
  maxQueue?: number;
  /** Detect a gap in a channel's seqs on a live connection and fill it (default true).
   * Only with a subscription covering all of a channel's events (e.g.
   * `events.ORG.conversations.>`): narrower patterns skip seqs by design. */
  detectGaps?: boolean;
  /** Refresh the token this many ms before it expires (default: a tenth of its life, at
   * most 60000). */
  refreshMarginMs?: number;
}

interface Pending {
  resolve: (reply: Reply) => void;
  reject: (err: ParleyError) => void;
  timer: ReturnType<typeof setTimeout> | null;
}

interface Queued {
  op: string;
  fields: JsonObject;
  resolve: (reply: Reply) => void;
  reject: (err: ParleyError) => void;
  sent: boolean;
}

interface Subscription {
  pattern: string;
  /** Replied to on the current connection. */
  active: boolean;
  /** The last reply to its `subscribe`. */
  reply: SubscribeReply | null;
  /** Why the server refused it (then it is dropped). */
  error: ParleyError | null;
}

const TYPING_EVERY_MS = 2500;

/** A refusal by the server (not a lost connection or a missing reply). */
function refused(err: unknown): boolean {
  return err instanceof ParleyError && !["disconnected", "timeout", "closed"].includes(err.code);
}
/** A connection that has not said hello by then is dropped and tried again. */
const HELLO_TIMEOUT_MS = 15_000;

export class ParleyClient extends Emitter<ClientEvents> {
  readonly seqs = new SeqTracker();
  readonly rest: ParleyRest | null;
  readonly tokens: TokenSource;
  private readonly url: string;
  private readonly WS: typeof WebSocket;
  private readonly backoff: Backoff;
  private readonly replyTimeout: number;
  private readonly maxQueue: number;
  private readonly detectGaps: boolean;
  private readonly refreshMarginMs: number | undefined;

  private currentState: ConnectionState = "idle";
  private ws: WebSocket | null = null;
  private generation = 0;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly subs = new Map<string, Subscription>();
  private readonly queue: Queued[] = [];
  private helloFrame: Hello | null = null;
  private connectedOnce = false;
  private resuming = false;
  private refreshes = 0;
  private stopped = false;
  private presenceStatus: "online" | "away" = "online";
  private recoveryChain: Promise<unknown> = Promise.resolve();
  private fillScheduled = false;
  private reconnectTimer: ReturnType<typeof setTimeout> | null = null;
  private refreshTimer: ReturnType<typeof setTimeout> | null = null;
  private heartbeatTimer: ReturnType<typeof setInterval> | null = null;
  private helloTimer: ReturnType<typeof setTimeout> | null = null;
  private readonly typingSent = new Map<string, number>();
  private readonly typingNow = new Map<string, Map<string, number>>();
  private readonly presenceNow = new Map<string, PresenceUser>();

  constructor(options: ClientOptions) {
    super();
    this.url = options.url;
    this.tokens = new TokenSource(options.token);
    this.rest =
      options.rest === undefined
        ? null
        : typeof options.rest === "string"
          ? new ParleyRest({ baseUrl: options.rest, token: this.tokens })
          : options.rest;
    const WS = options.WebSocket ?? (globalThis as { WebSocket?: typeof WebSocket }).WebSocket;
    if (WS === undefined) throw new ParleyError("unsupported", "no WebSocket implementation (pass options.WebSocket)");
    this.WS = WS;
    this.backoff = new Backoff(options.backoff);
    this.replyTimeout = options.replyTimeout ?? 10_000;
    this.maxQueue = options.maxQueue ?? 1000;
    this.detectGaps = options.detectGaps ?? true;
    this.refreshMarginMs = options.refreshMarginMs;
  }

  get state(): ConnectionState {
    return this.currentState;
  }

  /** The current connection's `hello` (null while disconnected). */
  get hello(): Hello | null {
    return this.helloFrame;
  }

  /** Sends waiting for a connection (or for their reply). */
  get queued(): number {
    return this.queue.length;
  }

  // --- lifecycle ----------------------------------------------------------------------

  /** Connect (and keep reconnecting); resolves once the first connection is resumed. */
  connect(): Promise<Hello> {
    if (this.currentState === "idle" || this.currentState === "closed") {
      this.stopped = false;
      void this.open();
    }
    return this.whenOpen();
  }

  /** Resolve when the client is connected and resumed; reject if it stops first. */
  whenOpen(): Promise<Hello> {
    if (this.currentState === "open" && this.helloFrame !== null) return Promise.resolve(this.helloFrame);
    return new Promise((resolve, reject) => {
      const off = this.on("state", ({ state }) => {
        if (state === "open" && this.helloFrame !== null) {
          off();
          resolve(this.helloFrame);
        } else if (state === "closed" || (state === "idle" && this.stopped)) {
          off();
          reject(new ParleyError("closed", "the client stopped"));
        }
      });
    });
  }

  /** Go offline, keeping subscriptions, seq positions and queued sends: `connect()`
   * later resumes where this left off. */
  disconnect(): void {
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
        ws.close(1000, "client offline");
      } catch {
        // already closing
      }
    }
    this.setState("idle");
  }

  /** Close for good: no reconnect; queued sends are rejected with `closed`. */
  close(): void {
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
        ws.close(1000, "client closed");
      } catch {
        // already closing
      }
    }
    this.setState("closed");
  }

  private async open(): Promise<void> {
    const gen = ++this.generation;
    this.setState(this.connectedOnce ? "reconnecting" : "connecting");
    let token: string;
    try {
      token = await this.tokens.get();
    } catch (err) {
      this.emit("error", { message: "could not get a token", cause: err });
      this.scheduleReconnect(1006, "token provider failed", "reconnect");
      return;
    }
    if (gen !== this.generation || this.stopped) return;
    const sep = this.url.includes("?") ? "&" : "?";
    let ws: WebSocket;
    try {
      ws = new this.WS(`${this.url}${sep}access_token=${encodeURIComponent(token)}`);
    } catch (err) {
      this.emit("error", { message: "could not open a WebSocket", cause: err });
      this.scheduleReconnect(1006, "bad url", "stop");
      return;
    }
    this.ws = ws;
    ws.onmessage = (m: MessageEvent) => {
      if (gen === this.generation && typeof m.data === "string") this.onFrame(m.data);
    };
    ws.onclose = (e: CloseEvent) => {
      if (gen === this.generation) this.onClose(e.code, e.reason);
    };
    ws.onerror = () => {
      // Browsers follow with a close event (1006); some runtimes (Node 20's WebSocket) do
      // not when the connection is refused, so a failure before `open` is handled here.
      if (gen === this.generation && ws.readyState === ws.CONNECTING) this.drop(1006, "connection failed");
    };
    this.helloTimer = setTimeout(() => {
      if (gen === this.generation && this.helloFrame === null) this.drop(1006, "no hello from the server");
    }, HELLO_TIMEOUT_MS);
  }

  /** Drop the current connection as if it had closed with `code`. */
  private drop(code: number, reason: string): void {
    const ws = this.ws;
    this.generation++;
    if (ws !== null) {
      try {
        ws.close(1000, reason);
      } catch {
        // already closing
      }
    }
    this.onClose(code, reason);
  }

  private onClose(code: number, reason: string): void {
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

  private scheduleReconnect(code: number, reason: string, action: ClientEvents["disconnect"]["action"]): void {
    if (action === "stop") {
      this.emit("disconnect", { code, reason, action, delay: 0 });
      this.stopped = true;
      for (const q of this.queue.splice(0)) q.reject(new ParleyError("closed", `connection refused (${code} ${reason})`));
      this.setState("closed");
      return;
    }
    let delay: number;
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

  private setState(state: ConnectionState): void {
    const previous = this.currentState;
    if (previous === state) return;
    this.currentState = state;
    this.emit("state", { state, previous });
  }

  private clearTimers(): void {
    if (this.helloTimer !== null) clearTimeout(this.helloTimer);
    this.helloTimer = null;
    if (this.refreshTimer !== null) clearTimeout(this.refreshTimer);
    if (this.heartbeatTimer !== null) clearInterval(this.heartbeatTimer);
    this.refreshTimer = null;
    this.heartbeatTimer = null;
  }

  /** Reject what waits for a reply; queued sends go back to waiting (unless `all`). */
  private failPending(err: ParleyError, all: boolean): void {
    for (const [id, p] of this.pending) {
      if (p.timer !== null) clearTimeout(p.timer);
      this.pending.delete(id);
      p.reject(err);
    }
    if (all) for (const q of this.queue.splice(0)) q.reject(err);
  }

  // --- frames -------------------------------------------------------------------------

  private onFrame(text: string): void {
    let frame: Record<string, unknown>;
    try {
      frame = JSON.parse(text) as Record<string, unknown>;
    } catch (err) {
      this.emit("error", { message: "a frame that is not JSON", cause: err });
      return;
    }
    if ("ok" in frame) {
      const id = frame.id;
      const p = typeof id === "number" ? this.pending.get(id) : undefined;
      if (p === undefined || typeof id !== "number") {
        this.emit("error", { message: `a reply to no request: ${text.slice(0, 200)}` });
        return;
      }
      this.pending.delete(id);
      if (p.timer !== null) clearTimeout(p.timer);
      const reply = frame as unknown as Reply;
      if (reply.ok) p.resolve(reply);
      else p.reject(new ParleyError(reply.error?.code ?? "internal", reply.error?.message ?? "refused"));
      return;
    }
    switch (frame.type) {
      case "hello":
        void this.onHello(frame as unknown as Hello);
        return;
      case "event":
        this.onEvent(frame as unknown as EventFrame);
        return;
      case "presence": {
        const p = frame as unknown as PresenceFrame;
        for (const u of p.users) this.presenceNow.set(u.user_id, u);
        this.emit("presence", p);
        return;
      }
      default:
        this.emit("error", { message: `an unknown push: ${String(frame.type)}` });
    }
  }

  private async onHello(hello: Hello): Promise<void> {
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
          // Refused for good (forbidden, invalid_topic...): say so and go on with the rest.
          this.subs.delete(sub.pattern);
          sub.error = err as ParleyError;
          this.emit("error", { message: `subscribe ${sub.pattern} refused`, cause: err });
        }
      }
      if (gen !== this.generation) return;
      if (this.presenceStatus !== "online") await this.request("presence", { status: this.presenceStatus });
    } catch (err) {
      if (gen !== this.generation) return;
      this.emit("error", { message: "resume failed", cause: err });
      // No reply in time on a connection that said hello: start again.
      if (err instanceof ParleyError && err.code === "timeout") this.drop(1006, "resume timed out");
      return;
    } finally {
      if (gen === this.generation) this.resuming = false;
    }
    this.setState("open");
    this.pump();
  }

  private onEvent(frame: EventFrame): void {
    if (typeof frame.seq === "number" && typeof frame.channel === "string" && typeof frame.event === "string") {
      const { deliver, gap } = this.seqs.accept(frame as ChannelEvent);
      this.deliver(deliver);
      if (gap !== null && this.detectGaps && !this.resuming && this.gapsDetectable()) this.scheduleFill();
      return;
    }
    if (frame.channel !== undefined) {
      if (frame.event === "typing") {
        const user = String(frame.data.user_id ?? "");
        const expiresIn = Number(frame.data.expires_in ?? 5);
        let users = this.typingNow.get(frame.channel);
        if (users === undefined) this.typingNow.set(frame.channel, (users = new Map()));
        users.set(user, Date.now() + expiresIn * 1000);
        this.emit("typing", { channel: frame.channel, user_id: user, expires_in: expiresIn });
      } else if (frame.event === "read_receipt") {
        this.emit("receipt", {
          channel: frame.channel,
          user_id: String(frame.data.user_id ?? ""),
          seq: Number(frame.data.seq ?? 0),
        });
      }
    }
    this.emit("event", frame);
  }

  private deliver(events: ChannelEvent[]): void {
    for (const ev of events) {
      if (ev.event === "message_posted") {
        // The author stops typing once the message arrives.
        this.typingNow.get(ev.channel)?.delete(String(ev.data.author ?? ""));
      }
      this.emit("event", ev);
      this.emit("channel", ev);
      if (ev.event === "message_posted") this.emit("message", ev);
    }
  }

  // --- subscriptions and recovery -------------------------------------------------------

  /** Subscribe to `pattern` (wildcards `*` and `>`), now and after every reconnect. */
  async subscribe(pattern: string): Promise<SubscribeReply> {
    let sub = this.subs.get(pattern);
    if (sub === undefined) {
      sub = { pattern, active: false, reply: null, error: null };
      this.subs.set(pattern, sub);
    }
    if (this.currentState !== "open" || this.helloFrame === null) {
      // Subscribed (and resumed) when the connection is (re)established.
      await this.whenOpen();
      if (sub.error !== null) throw sub.error;
      return sub.reply ?? { topic: pattern };
    }
    try {
      return await this.subscribeNow(sub);
    } catch (err) {
      if (refused(err)) this.subs.delete(pattern); // not tried again after a reconnect
      throw err;
    }
  }

  async unsubscribe(pattern: string): Promise<void> {
    const sub = this.subs.get(pattern);
    this.subs.delete(pattern);
    if (sub?.active && this.currentState === "open") {
      sub.active = false;
      await this.request("unsubscribe", { topic: pattern });
    }
  }

  /** Whether `pattern` reaches some channel-log topic, and whether all of them. */
  private channelReach(pattern: string): "none" | "some" | "all" {
    const org = this.helloFrame?.org ?? pattern.split(".")[1] ?? "";
    const all = channelTopics(org);
    if (covers(pattern, all)) return "all";
    return intersects(pattern, all) ? "some" : "none";
  }

  /** Gaps mean something only if a subscription covers every channel-log event. */
  private gapsDetectable(): boolean {
    const sub = this.recoverySub();
    return sub !== undefined && this.channelReach(sub.pattern) === "all";
  }

  /** The subscription that carries `since`: the first that covers all channel events,
   * else the first that reaches some. */
  private recoverySub(): Subscription | undefined {
    const subs = [...this.subs.values()];
    return subs.find((s) => this.channelReach(s.pattern) === "all") ?? subs.find((s) => this.channelReach(s.pattern) === "some");
  }

  /** Send `subscribe` for `sub`. The recovery subscription carries `since` (every position
   * tracked) and `resume_all` (channels joined while offline), then subscribes again for
   * what the reply leaves over: channels in `more`, and `recovered: false` ones from their
   * new position (docs/protocol.md, "Reconnect recipe", step 4). `only`: a gap fill on a
   * live connection, for those channels alone. One recovering subscribe at a time. */
  private subscribeNow(sub: Subscription, only?: string[]): Promise<SubscribeReply> {
    const run = async (): Promise<SubscribeReply> => {
      const fields: JsonObject = { topic: sub.pattern };
      const carries = this.recoverySub() === sub;
      if (carries && only !== undefined) {
        fields.since = Object.fromEntries(only.map((c) => [c, this.seqs.lastSeq(c) ?? null]));
      } else if (carries) {
        const positions = [...this.seqs.positions()].slice(0, MAX_SINCE_ENTRIES);
        if (positions.length) fields.since = Object.fromEntries(positions);
        fields.resume_all = true;
      }
      let reply = (await this.request("subscribe", fields)) as unknown as SubscribeReply & Reply;
      sub.active = true;
      sub.reply = reply;
      if (!carries) return reply;
      const todo = new Set<string>();
      for (let round = 0; ; round++) {
        for (const c of this.applyRecovery(reply)) todo.add(c);
        if (todo.size === 0 || round >= 1000 || this.subs.get(sub.pattern) !== sub) break;
        const next = [...todo].slice(0, MAX_SINCE_CHANNELS);
        for (const c of next) todo.delete(c);
        const since = Object.fromEntries(next.map((c) => [c, this.seqs.lastSeq(c) ?? null]));
        reply = (await this.request("subscribe", { topic: sub.pattern, since })) as unknown as SubscribeReply & Reply;
      }
      return sub.reply;
    };
    const next = this.recoveryChain.then(run, run);
    this.recoveryChain = next.catch(() => undefined);
    return next;
  }

  /** Apply a subscribe reply's `recovery` and `more`; return the channels to ask again. */
  private applyRecovery(reply: SubscribeReply): string[] {
    const again: string[] = [];
    for (const [channel, r] of Object.entries(reply.recovery ?? {})) {
      if (r.error !== undefined) {
        if (r.error.code === "not_found") this.seqs.forget(channel); // not a member any more
        continue; // conflict: the subscribe recovering it covers it
      }
      const to = r.replayed_to ?? 0;
      if (this.seqs.lastSeq(channel) === undefined) {
        this.seqs.seed(channel, to);
        this.emit("joined", { channel, seq: to });
      } else {
        // Seqs up to `to` not replayed are not coming (a narrower pattern); deliver what
        // was held behind them.
        const before = this.seqs.gaps().find((g) => g.channel === channel);
        this.deliver(this.seqs.skipTo(channel, to));
        if (before !== undefined && before.from <= to) this.emit("gap", { ...before, filled: r.replayed ?? 0 });
      }
      if (r.recovered === false) again.push(channel);
    }
    again.push(...(reply.more ?? []));
    return again;
  }

  /** A gap on a live connection: subscribe the pattern again with `since` for the gapped
   * channels, once the current frames are handled. */
  private scheduleFill(): void {
    if (this.fillScheduled) return;
    this.fillScheduled = true;
    setTimeout(() => {
      this.fillScheduled = false;
      const sub = this.recoverySub();
      const gaps = this.seqs.gaps().map((g) => g.channel);
      if (sub === undefined || this.currentState !== "open" || gaps.length === 0) return;
      this.subscribeNow(sub, gaps.slice(0, MAX_SINCE_CHANNELS)).then(
        () => {
          if (this.seqs.gaps().length) this.scheduleFill();
        },
        (err: unknown) => this.emit("error", { message: "gap fill failed", cause: err }),
      );
    }, 0);
  }

  // --- requests -----------------------------------------------------------------------

  /** Send one command now and resolve with its reply (matched by `id`); reject with the
   * server's error, `timeout`, or `disconnected`. */
  request(op: string, fields: JsonObject = {}, timeout = this.replyTimeout): Promise<Reply> {
    const ws = this.ws;
    if (ws === null || this.helloFrame === null) {
      return Promise.reject(new ParleyError("disconnected", "not connected"));
    }
    const id = this.nextId++;
    return new Promise<Reply>((resolve, reject) => {
      const timer =
        timeout > 0
          ? setTimeout(() => {
              this.pending.delete(id);
              reject(new ParleyError("timeout", `no reply to ${op} within ${timeout} ms`));
            }, timeout)
          : null;
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
  send(op: string, fields: JsonObject): Promise<Reply> {
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

  private pump(): void {
    if (this.currentState !== "open" || this.resuming) return;
    for (const q of this.queue) {
      if (q.sent) continue;
      q.sent = true;
      this.request(q.op, q.fields, 0).then(
        (reply) => {
          this.queue.splice(this.queue.indexOf(q), 1);
          q.resolve(reply);
        },
        (err: ParleyError) => {
          if (err.code === "disconnected") {
            q.sent = false; // sent again after the reconnect
            return;
          }
          this.queue.splice(this.queue.indexOf(q), 1);
          q.reject(err);
        },
      );
    }
  }

  /** Post a message; queued while offline; a retry never posts twice. */
  async post(channel: string, text: string, options: { idempotencyKey?: string } = {}): Promise<PostReply> {
    const reply = await this.send("post", { channel, text, idempotency_key: options.idempotencyKey ?? newKey() });
    return reply as unknown as PostReply;
  }

  /** Reply in a thread (`also_send_to_channel` shows it in the channel too). */
  async reply(
    channel: string,
    root: string,
    text: string,
    options: { alsoSendToChannel?: boolean; idempotencyKey?: string } = {},
  ): Promise<PostReply> {
    const fields: JsonObject = { channel, root, text, idempotency_key: options.idempotencyKey ?? newKey() };
    if (options.alsoSendToChannel) fields.also_send_to_channel = true;
    return (await this.send("reply", fields)) as unknown as PostReply;
  }

  react(channel: string, messageId: string, emoji: string, remove = false): Promise<Reply> {
    return this.send("react", { channel, message_id: messageId, emoji, remove });
  }

  edit(channel: string, messageId: string, text: string): Promise<Reply> {
    return this.send("edit", { channel, message_id: messageId, text });
  }

  deleteMessage(channel: string, messageId: string): Promise<Reply> {
    return this.send("delete", { channel, message_id: messageId });
  }

  /** Move my read position in `channel` to `seq` (a `read_receipt` to the members). */
  read(channel: string, seq: number): Promise<Reply> {
    return this.send("read", { channel, seq });
  }

  publish(topic: string, data: Json): Promise<Reply> {
    return this.request("publish", { topic, data });
  }

  // --- typing and presence --------------------------------------------------------------

  /** Say I am typing in `channel` (at most one push every 2.5 s; dropped while offline). */
  typing(channel: string): void {
    const now = Date.now();
    if (this.currentState !== "open" || now - (this.typingSent.get(channel) ?? 0) < TYPING_EVERY_MS) return;
    this.typingSent.set(channel, now);
    this.request("typing", { channel }).catch(() => undefined);
  }

  /** Who is typing in `channel` now (their typing pushes have not expired). */
  typingIn(channel: string): string[] {
    const now = Date.now();
    const users = this.typingNow.get(channel);
    if (users === undefined) return [];
    for (const [u, until] of users) if (until <= now) users.delete(u);
    return [...users.keys()].filter((u) => u !== this.helloFrame?.user);
  }

  /** Set this connection's presence (kept across reconnects). */
  async setPresence(status: "online" | "away"): Promise<void> {
    this.presenceStatus = status;
    if (this.currentState === "open") await this.request("presence", { status });
  }

  /** The last presence pushed for `user` (null before any). */
  presenceOf(user: string): PresenceUser | null {
    return this.presenceNow.get(user) ?? null;
  }

  // --- token refresh and heartbeat ------------------------------------------------------

  private scheduleRefresh(hello: Hello): void {
    if (!this.tokens.refreshable || !hello.expires_at) return;
    const left = hello.expires_at * 1000 - Date.now();
    const margin = this.refreshMarginMs ?? Math.min(60_000, Math.max(1000, left / 10));
    const gen = this.generation;
    this.refreshTimer = setTimeout(() => {
      this.refreshTimer = null;
      void this.refreshToken(gen);
    }, Math.max(0, left - margin));
  }

  private async refreshToken(gen: number): Promise<void> {
    try {
      this.tokens.invalidate();
      const token = await this.tokens.get();
      const reply = await this.request("refresh", { token });
      if (gen !== this.generation || this.helloFrame === null) return;
      this.helloFrame = { ...this.helloFrame, expires_at: Number(reply.expires_at) };
      this.scheduleRefresh(this.helloFrame);
    } catch (err) {
      // The server closes with 4002 at expiry; the reconnect fetches a token again.
      this.emit("error", { message: "token refresh failed", cause: err });
    }
  }

  private startHeartbeat(hello: Hello): void {
    const every = (hello.keepalive?.interval ?? 25) * 1000;
    const wait = (hello.keepalive?.timeout ?? 10) * 1000;
    const gen = this.generation;
    this.heartbeatTimer = setInterval(() => {
      this.request("ping", {}, wait).catch((err: ParleyError) => {
        if (err.code === "timeout" && gen === this.generation) this.drop(4001, "no reply to ping");
      });
    }, every);
  }
}
