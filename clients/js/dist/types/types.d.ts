/** The wire shapes of docs/protocol.md (server -> client frames) and the SDK's events. */
export type Json = null | boolean | number | string | Json[] | {
    [key: string]: Json;
};
export type JsonObject = {
    [key: string]: Json;
};
/** The `hello` push, sent once a connection is accepted. */
export interface Hello {
    type: "hello";
    session: string;
    user: string;
    org: string;
    roles: string[];
    expires_at: number;
    keepalive: {
        interval: number;
        timeout: number;
    };
    limits: Record<string, number>;
    ts: string;
}
/** An `event` push. Channel-log events carry `channel`, `seq` and `event`; ephemeral
 * channel events (`typing`, `read_receipt`, `message_stream`, `link_preview`) carry
 * `channel` and `event` but no `seq`. */
export interface EventFrame {
    type: "event";
    topic: string;
    data: JsonObject;
    ts: string;
    channel?: string;
    seq?: number;
    event?: string;
}
/** A channel-log event: one `seq` of one channel, delivered exactly once and in order. */
export interface ChannelEvent extends EventFrame {
    channel: string;
    seq: number;
    event: string;
}
export interface PresenceUser {
    user_id: string;
    status: "online" | "away" | "offline";
    last_seen: string | null;
}
export interface PresenceFrame {
    type: "presence";
    users: PresenceUser[];
    truncated: boolean;
    ts: string;
}
export interface ReplyError {
    code: string;
    message: string;
}
export type Reply = {
    id: number | null;
    ok: boolean;
    error?: ReplyError;
} & {
    [field: string]: Json | ReplyError | undefined;
};
/** The reply to `post` and `reply`. */
export interface PostReply {
    message_id: string;
    seq: number;
    ts: string;
    channel: string;
    created: boolean;
}
export interface RecoveryResult {
    recovered?: boolean;
    replayed?: number;
    replayed_to?: number;
    error?: ReplyError;
}
export interface SubscribeReply {
    topic: string;
    granted?: string[];
    recovery?: Record<string, RecoveryResult>;
    /** Channels over the 100-channel cap of one replay: subscribe again with them. */
    more?: string[];
}
export type ConnectionState = "idle" | "connecting" | "open" | "reconnecting" | "closed";
/** What the client tells its listeners. */
export interface ClientEvents {
    /** The connection state changed. */
    state: {
        state: ConnectionState;
        previous: ConnectionState;
    };
    /** A connection was accepted. */
    hello: Hello;
    /** Any event push, after channel-log dedupe (duplicates and out-of-order are dropped). */
    event: EventFrame;
    /** A channel-log event, exactly once and in seq order per channel. */
    channel: ChannelEvent;
    /** A `message_posted` channel-log event. */
    message: ChannelEvent;
    /** A `typing` ephemeral event. */
    typing: {
        channel: string;
        user_id: string;
        expires_in: number;
    };
    /** A `read_receipt` ephemeral event. */
    receipt: {
        channel: string;
        user_id: string;
        seq: number;
    };
    /** A presence push. */
    presence: PresenceFrame;
    /** A connection closed; `action` is what the client does next. */
    disconnect: {
        code: number;
        reason: string;
        action: CloseAction;
        delay: number;
    };
    /** A gap in a channel's seqs (seen on a live connection) was closed by a replay that
     * delivered `filled` events; seqs it did not replay are not coming (not covered). */
    gap: {
        channel: string;
        from: number;
        to: number;
        filled: number;
    };
    /** A channel the client had no position in (all of them on a first connect without
     * `client.seqs.seed`, or one joined while offline): live events follow from `seq + 1`;
     * its history before is `GET /v1/channels/{id}/messages?before=seq+1`. */
    joined: {
        channel: string;
        seq: number;
    };
    /** A problem the client handled (logged by apps; never thrown). */
    error: {
        message: string;
        cause?: unknown;
    };
}
/** What a close code tells the SDK to do (docs/protocol.md, close codes). */
export type CloseAction = "reconnect" | "backoff" | "refresh" | "stop";
