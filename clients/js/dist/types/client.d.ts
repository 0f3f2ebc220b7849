/** The WebSocket client: one connection at a time, reconnected by close code with jittered
 * backoff, resumed with `since` so channel-log events arrive exactly once and in order
 * (docs/protocol.md, "Reconnect recipe"; docs/clients.md, "JavaScript SDK"). */
import { type BackoffOptions } from "./codes.js";
import { Emitter } from "./emitter.js";
import { ParleyRest } from "./rest.js";
import { SeqTracker } from "./seqs.js";
import { TokenSource, type TokenProvider } from "./token.js";
import type { ClientEvents, ConnectionState, Hello, Json, JsonObject, PostReply, PresenceUser, Reply, SubscribeReply } from "./types.js";
/** At most this many channels per `since` (docs/protocol.md, Recovery). */
export declare const MAX_SINCE_CHANNELS = 100;
export interface ClientOptions {
    /** The broker endpoint, e.g. `ws://127.0.0.1:8765/ws`. */
    url: string;
    /** A token, or a callback fetching one (called again before expiry and on 4002). */
    token: TokenProvider;
    /** The REST API (a base URL such as `http://127.0.0.1:8080`, or a client): used to find
     * channels joined while offline and to page what a replay could not deliver. */
    rest?: string | ParleyRest;
    /** A WebSocket constructor (default: the global one). */
    WebSocket?: typeof WebSocket;
    backoff?: BackoffOptions;
    /** Reply timeout of `request` in ms (default 10000). */
    replyTimeout?: number;
    /** Most sends kept while offline (default 1000); beyond, `queue_full`. */
    maxQueue?: number;
    /** Detect a gap in a channel's seqs on a live connection and fill it (default true).
     * Needs a subscription covering all of a channel's events (e.g. `events.ORG.conversations.>`). */
    detectGaps?: boolean;
    /** A channel found over REST after a reconnect (joined while offline) is replayed from
     * this many seqs before its end (default 200). */
    joinedOfflineReplay?: number;
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
    private readonly joinedOfflineReplay;
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
    /** Channels found over REST and tracked from their end (once per client). */
    private seeded;
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
    /** The first time: start tracking every channel of mine at its current end (nothing is
     * replayed). After a reconnect: channels not tracked yet were joined while offline;
     * replay their last `joinedOfflineReplay` seqs. */
    private discoverChannels;
    private onEvent;
    private deliver;
    /** Subscribe to `pattern` (wildcards `*` and `>`), now and after every reconnect. */
    subscribe(pattern: string): Promise<SubscribeReply>;
    unsubscribe(pattern: string): Promise<void>;
    /** Whether `pattern` reaches some channel-log topic, and whether all of them. */
    private channelReach;
    /** The subscription that carries `since`: the first that covers all channel events,
     * else the first that reaches some. */
    private recoverySub;
    /** Send `subscribe` for `sub` (with `since` if it is the recovery subscription); one
     * recovering subscribe at a time. */
    private subscribeNow;
    /** After a replay: seqs still missing in the replayed channels are not coming (the
     * pattern does not cover them); deliver what was held behind them. */
    private settleGaps;
    /** A gap on a live connection: re-subscribe with `since` once the current frames are
     * handled. */
    private scheduleFill;
    /** More was missed than one replay delivers: page the messages after `after` over REST,
     * then carry on from the channel's end. */
    private fillFromRest;
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
