/** Errors the SDK rejects with: the server's `error.code` and message, or a local one. */
export declare class ParleyError extends Error {
    /** `error.code` of a WebSocket reply or REST error (docs/protocol.md, docs/rest.md), or
     * one of the SDK's own: `timeout`, `disconnected`, `closed`, `queue_full`, `network`. */
    readonly code: string;
    /** The HTTP status of a REST error (0 for WebSocket and local errors). */
    readonly status: number;
    constructor(code: string, message: string, status?: number);
}
