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
/** What to do after a close with `code` and `reason`: reconnect (with the normal
 * backoff), back off longer (the server is overloaded or its store is down), get a fresh
 * token first, or stop. 4000-4499 not listed: transient; 4500-4999: terminal. */
export declare function closeAction(code: number, reason?: string): CloseAction;
/** Jittered exponential backoff ("full jitter"): attempt n waits a uniform random time in
 * [base * 2^n / 2, base * 2^n], capped at `max`. `backoff` closes start from a longer base. */
export interface BackoffOptions {
    /** First delay in ms for ordinary closes (default 250). */
    base?: number;
    /** First delay in ms after an overload close (1013, 4003; default 2000). */
    overloadBase?: number;
    /** Largest delay in ms (default 30000). */
    max?: number;
    /** Source of randomness in [0, 1) (tests pass a fixed one). */
    random?: () => number;
}
export declare class Backoff {
    private attempt;
    private readonly base;
    private readonly overloadBase;
    private readonly max;
    private readonly random;
    constructor(options?: BackoffOptions);
    /** The delay before the next attempt, in ms; counts the attempt. */
    next(action: CloseAction): number;
    /** A connection was accepted: start again from the first delay. */
    reset(): void;
    get attempts(): number;
}
