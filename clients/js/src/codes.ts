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

/** The table of docs/protocol.md ("Close codes"), as `close_action` in
 * parley/core/codes.py (tests/clients/test_js_sdk.py checks they agree). */
const ACTIONS: ReadonlyMap<number, CloseAction> = new Map<number, CloseAction>([
  [CloseCode.NORMAL, "reconnect"],
  [CloseCode.GOING_AWAY, "reconnect"],
  [CloseCode.PROTOCOL_ERROR, "backoff"],
  [CloseCode.UNSUPPORTED_DATA, "stop"],
  [CloseCode.ABNORMAL, "reconnect"],
  [CloseCode.POLICY_VIOLATION, "stop"],
  [CloseCode.MESSAGE_TOO_BIG, "backoff"],
  [CloseCode.INTERNAL_ERROR, "backoff"],
  [CloseCode.TRY_AGAIN_LATER, "backoff"],
  [CloseCode.SLOW_CONSUMER, "reconnect"],
  [CloseCode.PONG_TIMEOUT, "reconnect"],
  [CloseCode.TOKEN_EXPIRED, "refresh"],
  [CloseCode.SERVER_OVERLOAD, "backoff"],
  [CloseCode.CONNECTION_LIMIT, "stop"],
]);

/** The shortest wait in ms before reconnecting after a "backoff" code. */
export const BACKOFF_FLOOR_MS = 5000;

/** What to do after a close with `code`: reconnect (normal backoff), back off (at least
 * 5 s: the server is unwell or full), get a fresh token first, or stop. A code not listed:
 * "backoff" in 4000-4499, "stop" in 4500-4999, "reconnect" otherwise. */
export function closeAction(code: number): CloseAction {
  const known = ACTIONS.get(code);
  if (known !== undefined) return known;
  if (code >= 4000 && code < 4500) return "backoff";
  if (code >= 4500 && code < 5000) return "stop";
  return "reconnect";
}

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

export class Backoff {
  private attempt = 0;
  private readonly base: number;
  private readonly floor: number;
  private readonly max: number;
  private readonly random: () => number;

  constructor(options: BackoffOptions = {}) {
    this.base = options.base ?? 250;
    this.floor = options.floor ?? BACKOFF_FLOOR_MS;
    this.max = options.max ?? 30000;
    this.random = options.random ?? Math.random;
  }

  /** The delay before the next attempt, in ms; counts the attempt. */
  next(action: CloseAction): number {
    const ceiling = Math.min(this.max, this.base * 2 ** this.attempt);
    this.attempt += 1;
    const delay = Math.round(ceiling / 2 + (this.random() * ceiling) / 2);
    return action === "backoff" ? Math.max(this.floor, delay) : delay;
  }

  /** A connection was accepted: start again from the first delay. */
  reset(): void {
    this.attempt = 0;
  }

  get attempts(): number {
    return this.attempt;
  }
}
