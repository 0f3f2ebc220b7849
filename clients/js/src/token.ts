/** Where tokens come from: a fixed string, or a callback that fetches a fresh one. */

export type TokenProvider = string | (() => string | Promise<string>);

/** The `exp` claim of a JWT (seconds since the epoch), or null if it has none. Nothing is
 * verified here: the server does that. */
export function tokenExpiry(token: string): number | null {
  const part = token.split(".")[1];
  if (part === undefined) return null;
  try {
    const b64 = part.replace(/-/g, "+").replace(/_/g, "/");
    const padded = b64 + "=".repeat((4 - (b64.length % 4)) % 4);
    const claims = JSON.parse(atob(padded)) as { exp?: unknown };
    return typeof claims.exp === "number" ? claims.exp : null;
  } catch {
    return null;
  }
}

/** Caches the current token; asks the provider again when it is within `marginMs` of its
 * expiry, or after `invalidate()` (the server refused it). Concurrent callers share one
 * fetch. */
export class TokenSource {
  private current: string | null = null;
  private inflight: Promise<string> | null = null;

  constructor(
    private readonly provider: TokenProvider,
    private readonly marginMs = 30_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** Whether a fresh token can be had (a callback, not a fixed string). */
  get refreshable(): boolean {
    return typeof this.provider === "function";
  }

  async get(): Promise<string> {
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
  invalidate(): void {
    this.current = null;
  }

  private expiring(token: string): boolean {
    const exp = tokenExpiry(token);
    return exp !== null && exp * 1000 - this.now() < this.marginMs;
  }
}
