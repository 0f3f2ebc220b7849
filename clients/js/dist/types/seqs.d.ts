/** Per-channel seq tracking (sans-IO): deliver each channel-log event exactly once and in
 * seq order, hold back events that arrive past a gap, and say which gap to fill. */
import type { ChannelEvent } from "./types.js";
export interface Gap {
    channel: string;
    /** First missing seq. */
    from: number;
    /** Last missing seq. */
    to: number;
}
export interface Accepted {
    /** Events to hand to the application now, in order. */
    deliver: ChannelEvent[];
    /** A gap newly seen (only once per gap), to fill. */
    gap: Gap | null;
}
export declare class SeqTracker {
    private readonly last;
    private readonly held;
    /** The last seq delivered in each channel. */
    positions(): Map<string, number>;
    lastSeq(channel: string): number | undefined;
    /** Start tracking `channel` at `seq` (e.g. its `last_seq` from REST, already shown); a
     * lower value than the one tracked is ignored. */
    seed(channel: string, seq: number): void;
    forget(channel: string): void;
    /** Channels with events held behind a gap. */
    gaps(): Gap[];
    accept(ev: ChannelEvent): Accepted;
    /** Give up on the seqs up to `seq` that never came (they were filled another way, or the
     * subscription's pattern does not cover them): deliver the held events up to there in
     * order (except those whose seq is in `skip`), then carry on from `seq`. */
    skipTo(channel: string, seq: number, skip?: ReadonlySet<number>): ChannelEvent[];
    private drain;
}
