/** The REST API (docs/rest.md) with the same token source as the WebSocket client. */
import { TokenSource, type TokenProvider } from "./token.js";
import type { Json, JsonObject } from "./types.js";
export interface Channel {
    id: string;
    kind: "direct" | "group" | "broadcast";
    name: string;
    topic: string;
    created_at: string;
    created_by: string;
    member_count: number;
    last_seq: number;
    role: string;
    read_seq: number;
    unread: number;
    last_message?: Message | null;
}
export interface Message {
    id: string;
    channel: string;
    seq: number;
    author: string;
    text: string;
    created_at: string;
    edited_at: string | null;
    deleted: boolean;
}
export interface Page<T> {
    items: T[];
    next_cursor?: string | null;
    next_before?: number | null;
    next_after?: number | null;
}
export type Query = Record<string, string | number | boolean | undefined | null>;
export interface RequestOptions {
    query?: Query;
    body?: Json | Blob | ArrayBuffer | FormData;
    /** Sent as `Idempotency-Key` (a retry of the same request creates nothing twice). */
    idempotencyKey?: string;
    headers?: Record<string, string>;
}
export interface RestOptions {
    /** e.g. `http://127.0.0.1:8080` (no trailing `/v1`). */
    baseUrl: string;
    token: TokenProvider | TokenSource;
    fetch?: typeof fetch;
}
export declare function newKey(): string;
export declare class ParleyRest {
    readonly baseUrl: string;
    readonly tokens: TokenSource;
    private readonly fetchImpl;
    constructor(options: RestOptions);
    /** One request; a JSON error body becomes a {@link ParleyError}. A 401 asks the token
     * source for a fresh token and retries once (when it can give one). */
    request<T = JsonObject>(method: string, path: string, options?: RequestOptions): Promise<T>;
    get<T = JsonObject>(path: string, query?: Query): Promise<T>;
    post<T = JsonObject>(path: string, body?: Json, idempotencyKey?: string): Promise<T>;
    /** Every channel of mine, following `next_cursor`. */
    allChannels(): Promise<Channel[]>;
    channel(id: string): Promise<Channel>;
    /** Messages of a channel: newest first with `before`, oldest first with `after`. */
    messages(channel: string, query?: {
        before?: number;
        after?: number;
        limit?: number;
    }): Promise<Page<Message>>;
    /** Every message after `after`, oldest first (follows `next_after`). */
    messagesAfter(channel: string, after: number): Promise<Message[]>;
    createChannel(body: {
        kind: string;
        name?: string;
        topic?: string;
        members?: string[];
    }): Promise<Channel>;
    markRead(channel: string, seq: number): Promise<{
        channel: string;
        read_seq: number;
        unread: number;
    }>;
}
