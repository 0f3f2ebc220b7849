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

export class SeqTracker {
  private readonly last = new Map<string, number>();
  private readonly held = new Map<string, Map<number, ChannelEvent>>();

  /** The last seq delivered in each channel. */
  positions(): Map<string, number> {
    return new Map(this.last);
  }

  lastSeq(channel: string): number | undefined {
    return this.last.get(channel);
  }

  /** Start tracking `channel` at `seq` (e.g. its `last_seq` from REST, already shown); a
   * lower value than the one tracked is ignored. */
  seed(channel: string, seq: number): void {
    const cur = this.last.get(channel);
    if (cur === undefined || seq > cur) this.last.set(channel, seq);
  }

  forget(channel: string): void {
    this.last.delete(channel);
    this.held.delete(channel);
  }

  /** Channels with events held behind a gap. */
  gaps(): Gap[] {
    const out: Gap[] = [];
    for (const [channel, held] of this.held) {
      const last = this.last.get(channel) ?? 0;
      const first = Math.min(...held.keys());
      out.push({ channel, from: last + 1, to: first - 1 });
    }
    return out;
  }

  accept(ev: ChannelEvent): Accepted {
    const last = this.last.get(ev.channel);
    if (last === undefined) {
      // First sight of an untracked channel: it starts here.
      this.last.set(ev.channel, ev.seq);
      return { deliver: [ev], gap: null };
    }
    if (ev.seq <= last) return { deliver: [], gap: null }; // a duplicate (replay overlap)
    if (ev.seq === last + 1) {
      this.last.set(ev.channel, ev.seq);
      return { deliver: [ev, ...this.drain(ev.channel)], gap: null };
    }
    let held = this.held.get(ev.channel);
    const fresh = held === undefined;
    if (held === undefined) {
      held = new Map();
      this.held.set(ev.channel, held);
    }
    if (held.has(ev.seq)) return { deliver: [], gap: null };
    held.set(ev.seq, ev);
    return { deliver: [], gap: fresh ? { channel: ev.channel, from: last + 1, to: ev.seq - 1 } : null };
  }

  /** Give up on the seqs up to `seq` that never came (they were filled another way, or the
   * subscription's pattern does not cover them): deliver the held events up to there in
   * order (except those whose seq is in `skip`), then carry on from `seq`. */
  skipTo(channel: string, seq: number, skip: ReadonlySet<number> = new Set()): ChannelEvent[] {
    const last = this.last.get(channel) ?? 0;
    const held = this.held.get(channel);
    const out: ChannelEvent[] = [];
    const top = Math.max(last, seq);
    if (held !== undefined) {
      for (const s of [...held.keys()].sort((a, b) => a - b)) {
        if (s > seq) break;
        const ev = held.get(s);
        held.delete(s);
        if (ev !== undefined && !skip.has(s) && s > last) out.push(ev);
      }
      if (held.size === 0) this.held.delete(channel);
    }
    this.last.set(channel, top);
    out.push(...this.drain(channel));
    return out;
  }

  private drain(channel: string): ChannelEvent[] {
    const held = this.held.get(channel);
    if (held === undefined) return [];
    const out: ChannelEvent[] = [];
    let next = (this.last.get(channel) ?? 0) + 1;
    for (let ev = held.get(next); ev !== undefined; ev = held.get(next)) {
      out.push(ev);
      held.delete(next);
      this.last.set(channel, next);
      next += 1;
    }
    // Held events at or below the position are duplicates now.
    for (const s of [...held.keys()]) if (s < next) held.delete(s);
    if (held.size === 0) this.held.delete(channel);
    return out;
  }
}
