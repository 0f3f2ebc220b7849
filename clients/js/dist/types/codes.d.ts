/** Close codes (docs/protocol.md, "Close codes") and what the SDK does on each. */
import type { CloseAction } from "./types.js";
export declare const CloseCode: {
    readonly NORMAL: 1000;
    readonly GOING_AWAY: 1001;
    readonly PROTOCOL_ERROR: 1002;
    readonly UNSUPPORTED_DATA: 1003;
    readonly ABNORMAL: 1006;
    readonly POLICY_VIOLATION: 1008;
    readonly MESSAGE_TOO_BIG: 1009;
    readonly INTERNAL_ERROR: 1011;
    readonly TRY_AGAIN_LATER: 1013;
    readonly SLOW_CONSUMER: 4000;
    readonly PONG_TIMEOUT: 4001;
    readonly TOKEN_EXPIRED: 4002;
    readonly SERVER_OVERLOAD: 4003;
    readonly CONNECTION_LIMIT: 4500;
};
/** The shortest wait in ms before reconnecting after a "backoff" code. */
export declare const BACKOFF_FLOOR_MS = 5000;
/** What to do after a close with `code`: reconnect (normal backoff), back off (at least
 * 5 s: the server is unwell or full), get a fresh token first, or stop. A code not listed:
 * "backoff" in 4000-4499, "stop" in 4500-4999, "reconnect" otherwise. */
export declare function closeAction(code: number): CloseAction;
/** Jittered exponential backoff: attempt n waits a uniform random time in
 * [c / 2, c] with c = min(max, base * 2^n); "backoff" closes wait at least `floor`. */
export interface BackoffOptions {
    /** First delay in ms for ordinary closes (default 250). */
    base?: number;
    /** Least delay in ms after a "backoff" close (1013, 4003...; default 5000). */
    floor?: number;
    /** Largest delay in ms (default 30000). */
    max?: number;
    /** Source of randomness in [0, 1) (tests pass a fixed one). */
    random?: () => number;
}
export declare class Backoff {
    private attempt;
    private readonly base;
    private readonly floor;
    private readonly max;
    private readonly random;
    constructor(options?: BackoffOptions);
    /** The delay before the next attempt, in ms; counts the attempt. */
    next(action: CloseAction): number;
    /** A connection was accepted: start again from the first delay. */
    reset(): void;
    get attempts(): number;
}
