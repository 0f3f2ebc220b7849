/** Where tokens come from: a fixed string, or a callback that fetches a fresh one. */
export type TokenProvider = string | (() => string | Promise<string>);
/** The `exp` claim of a JWT (seconds since the epoch), or null if it has none. Nothing is
 * verified here: the server does that. */
export declare function tokenExpiry(token: string): number | null;
/** Caches the current token; asks the provider again when it is within `marginMs` of its
 * expiry, or after `invalidate()` (the server refused it). Concurrent callers share one
 * fetch. */
export declare class TokenSource {
    private readonly provider;
    private readonly marginMs;
    private readonly now;
    private current;
    private inflight;
    constructor(provider: TokenProvider, marginMs?: number, now?: () => number);
    /** Whether a fresh token can be had (a callback, not a fixed string). */
    get refreshable(): boolean;
    get(): Promise<string>;
    /** Forget the cached token: the next `get()` calls the provider. */
    invalidate(): void;
    private expiring;
}
