/** Close codes (docs/protocol.md, "Close codes") and what the SDK does on each. */

import type { CloseAction } from "./types.js";

export const CloseCode = {
  NORMAL: 1000,
  GOING_AWAY: 1001,
  PROTOCOL_ERROR: 1002,
  UNSUPPORTED_DATA: 1003,
  ABNORMAL: 1006,
  POLICY_VIOLATION: 1008,
  MESSAGE_TOO_BIG: 1009,
  INTERNAL_ERROR: 1011,
  TRY_AGAIN_LATER: 1013,
  SLOW_CONSUMER: 4000,
  PONG_TIMEOUT: 4001,
  TOKEN_EXPIRED: 4002,
  SERVER_OVERLOAD: 4003,
  CONNECTION_LIMIT: 4500,
} as const;

const ACTIONS: ReadonlyMap<number, CloseAction> = new Map<number, CloseAction>([
  [CloseCode.NORMAL, "reconnect"],
  [CloseCode.GOING_AWAY, "reconnect"],
  [CloseCode.PROTOCOL_ERROR, "reconnect"],
  [CloseCode.UNSUPPORTED_DATA, "stop"],
  [CloseCode.ABNORMAL, "reconnect"],
  [CloseCode.POLICY_VIOLATION, "stop"],
  [CloseCode.MESSAGE_TOO_BIG, "reconnect"],
  [CloseCode.INTERNAL_ERROR, "reconnect"],
  [CloseCode.TRY_AGAIN_LATER, "backoff"],
  [CloseCode.SLOW_CONSUMER, "reconnect"],
  [CloseCode.PONG_TIMEOUT, "reconnect"],
  [CloseCode.TOKEN_EXPIRED, "refresh"],
  [CloseCode.SERVER_OVERLOAD, "backoff"],
  [CloseCode.CONNECTION_LIMIT, "stop"],
]);

/** Token refusals the server closes with 1008 that a fresh token may cure. */
const REFRESHABLE_REASONS = ["token expired", "token not yet valid"];

/** What to do after a close with `code` and `reason`: reconnect (with the normal
 * backoff), back off longer (the server is overloaded or its store is down), get a fresh
 * token first, or stop. 4000-4499 not listed: transient; 4500-4999: terminal. */
export function closeAction(code: number, reason = ""): CloseAction {
  if (code === CloseCode.POLICY_VIOLATION && REFRESHABLE_REASONS.some((r) => reason.startsWith(r))) {
    return "refresh";
  }
  const known = ACTIONS.get(code);
  if (known !== undefined) return known;
  if (code >= 4000 && code < 4500) return "reconnect";
  if (code >= 4500 && code < 5000) return "stop";
  return "reconnect";
}

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

export class Backoff {
  private attempt = 0;
  private readonly base: number;
  private readonly overloadBase: number;
  private readonly max: number;
  private readonly random: () => number;

  constructor(options: BackoffOptions = {}) {
    this.base = options.base ?? 250;
    this.overloadBase = options.overloadBase ?? 2000;
    this.max = options.max ?? 30000;
    this.random = options.random ?? Math.random;
  }

  /** The delay before the next attempt, in ms; counts the attempt. */
  next(action: CloseAction): number {
    const base = action === "backoff" ? this.overloadBase : this.base;
    const ceiling = Math.min(this.max, base * 2 ** this.attempt);
    this.attempt += 1;
    return Math.round(ceiling / 2 + (this.random() * ceiling) / 2);
  }

  /** A connection was accepted: start again from the first delay. */
  reset(): void {
    this.attempt = 0;
  }

  get attempts(): number {
    return this.attempt;
  }
}
