/** The WebSocket client: one connection at a time, reconnected by close code with jittered
 * backoff, resumed with `since` so channel-log events arrive exactly once and in order
 * (docs/protocol.md, "Reconnect recipe"; docs/clients.md, "JavaScript SDK"). */
import { type BackoffOptions } from "./codes.js";
import { Emitter } from "./emitter.js";
import { ParleyRest } from "./rest.js";
import { SeqTracker } from "./seqs.js";
import { TokenSource, type TokenProvider } from "./token.js";
import type { ClientEvents, ConnectionState, Hello, Json, JsonObject, PostReply, PresenceUser, Reply, SubscribeReply } from "./types.js";
/** Channels one `subscribe` replays at most; the rest come back in `more`
 * (docs/protocol.md, Recovery). */
export declare const MAX_SINCE_CHANNELS = 100;
/** Most `since` entries one subscribe takes. */
export declare const MAX_SINCE_ENTRIES = 1000;
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
export declare class ParleyClient extends Emitter<ClientEvents> {
    readonly seqs: SeqTracker;
    readonly rest: ParleyRest | null;
    readonly tokens: TokenSource;
    private readonly url;
    private readonly WS;
    private readonly backoff;
    private readonly replyTimeout;
    private readonly maxQueue;
    private readonly detectGaps;
    private readonly refreshMarginMs;
    private currentState;
    private ws;
    private generation;
    private nextId;
    private readonly pending;
    private readonly subs;
    private readonly queue;
    private helloFrame;
    private connectedOnce;
    private resuming;
    private refreshes;
    private stopped;
    private presenceStatus;
    private recoveryChain;
    private fillScheduled;
    private reconnectTimer;
    private refreshTimer;
    private heartbeatTimer;
    private helloTimer;
    private readonly typingSent;
    private readonly typingNow;
    private readonly presenceNow;
    constructor(options: ClientOptions);
    get state(): ConnectionState;
    /** The current connection's `hello` (null while disconnected). */
    get hello(): Hello | null;
    /** Sends waiting for a connection (or for their reply). */
    get queued(): number;
    /** Connect (and keep reconnecting); resolves once the first connection is resumed. */
    connect(): Promise<Hello>;
    /** Resolve when the client is connected and resumed; reject if it stops first. */
    whenOpen(): Promise<Hello>;
    /** Go offline, keeping subscriptions, seq positions and queued sends: `connect()`
     * later resumes where this left off. */
    disconnect(): void;
    /** Close for good: no reconnect; queued sends are rejected with `closed`. */
    close(): void;
    private open;
    /** Drop the current connection as if it had closed with `code`. */
    private drop;
    private onClose;
    private scheduleReconnect;
    private setState;
    private clearTimers;
    /** Reject what waits for a reply; queued sends go back to waiting (unless `all`). */
    private failPending;
    private onFrame;
    private onHello;
    private onEvent;
    private deliver;
    /** Subscribe to `pattern` (wildcards `*` and `>`), now and after every reconnect. */
    subscribe(pattern: string): Promise<SubscribeReply>;
    unsubscribe(pattern: string): Promise<void>;
    /** Whether `pattern` reaches some channel-log topic, and whether all of them. */
    private channelReach;
    /** Gaps mean something only if a subscription covers every channel-log event. */
    private gapsDetectable;
    /** The subscription that carries `since`: the first that covers all channel events,
     * else the first that reaches some. */
    private recoverySub;
    /** Send `subscribe` for `sub`. The recovery subscription carries `since` (every position
     * tracked) and `resume_all` (channels joined while offline), then subscribes again for
     * what the reply leaves over: channels in `more`, and `recovered: false` ones from their
     * new position (docs/protocol.md, "Reconnect recipe", step 4). `only`: a gap fill on a
     * live connection, for those channels alone. One recovering subscribe at a time. */
    private subscribeNow;
    /** Apply a subscribe reply's `recovery` and `more`; return the channels to ask again. */
    private applyRecovery;
    /** A gap on a live connection: subscribe the pattern again with `since` for the gapped
     * channels, once the current frames are handled. */
    private scheduleFill;
    /** Send one command now and resolve with its reply (matched by `id`); reject with the
     * server's error, `timeout`, or `disconnected`. */
    request(op: string, fields?: JsonObject, timeout?: number): Promise<Reply>;
    /** Send once connected (kept in order while offline, and sent again after a reconnect
     * if the reply was lost); only for commands safe to repeat (posts carry an
     * idempotency key). */
    send(op: string, fields: JsonObject): Promise<Reply>;
    private pump;
    /** Post a message; queued while offline; a retry never posts twice. */
    post(channel: string, text: string, options?: {
        idempotencyKey?: string;
    }): Promise<PostReply>;
    /** Reply in a thread (`also_send_to_channel` shows it in the channel too). */
    reply(channel: string, root: string, text: string, options?: {
        alsoSendToChannel?: boolean;
        idempotencyKey?: string;
    }): Promise<PostReply>;
    react(channel: string, messageId: string, emoji: string, remove?: boolean): Promise<Reply>;
    edit(channel: string, messageId: string, text: string): Promise<Reply>;
    deleteMessage(channel: string, messageId: string): Promise<Reply>;
    /** Move my read position in `channel` to `seq` (a `read_receipt` to the members). */
    read(channel: string, seq: number): Promise<Reply>;
    publish(topic: string, data: Json): Promise<Reply>;
    /** Say I am typing in `channel` (at most one push every 2.5 s; dropped while offline). */
    typing(channel: string): void;
    /** Who is typing in `channel` now (their typing pushes have not expired). */
    typingIn(channel: string): string[];
    /** Set this connection's presence (kept across reconnects). */
    setPresence(status: "online" | "away"): Promise<void>;
    /** The last presence pushed for `user` (null before any). */
    presenceOf(user: string): PresenceUser | null;
    private scheduleRefresh;
    private refreshToken;
    private startHeartbeat;
}
