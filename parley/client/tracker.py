"""Per-channel positions, dedupe and gap detection, sans-IO (the reconnect recipe's
step 1, docs/protocol.md): channel-log events in, the events to hand to the application
out, in seq order, each once."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(slots=True)
class Tracker(Generic[T]):
    """``positions[channel]`` is the seq of the last event handed out (or the position a
    recovery reply set). With ``detect_gaps`` (the connection's patterns cover every
    channel-log event) an event past ``last + 1`` is kept aside until the gap is filled;
    without it events are handed out as they come, duplicates dropped."""

    detect_gaps: bool = True
    positions: dict[str, int] = field(default_factory=dict)
    #: channel -> seq -> event, kept aside behind a gap.
    aside: dict[str, dict[int, T]] = field(default_factory=dict)
    #: Channels whose last recovery was cut short (``recovered: false``): fill again.
    unfinished: set[str] = field(default_factory=set)

    def offer(self, channel: str, seq: int, item: T) -> list[T]:
        """One event from the server; returns what to deliver now (maybe nothing: a
        duplicate, or kept aside behind a gap: then :meth:`gaps` lists the channel)."""
        last = self.positions.get(channel)
        if last is None:
            # Never seen: nothing to check against (its history is REST's).
            self.positions[channel] = seq
            return [item]
        if seq <= last:
            return []
        if seq == last + 1 or not self.detect_gaps:
            self.positions[channel] = seq
            return [item, *self._drain(channel)]
        self.aside.setdefault(channel, {})[seq] = item
        return []

    def settle(self, channel: str, replayed_to: int, *, complete: bool) -> list[T]:
        """A recovery reply for ``channel``: its replay (already offered) reached
        ``replayed_to``. Drop what was kept aside up to there; deliver the rest when the
        recovery was complete (a seq still missing belongs to an event the patterns do
        not match), else keep it for the next fill."""
        last = max(self.positions.get(channel, replayed_to), replayed_to)
        self.positions[channel] = last
        out = self._drain(channel)
        kept = self.aside.get(channel)
        if not complete:
            self.unfinished.add(channel)
            return out
        self.unfinished.discard(channel)
        if kept:
            for seq in sorted(kept):
                out.append(kept[seq])
                self.positions[channel] = seq
            del self.aside[channel]
        return out

    def forget(self, channel: str) -> None:
        """The channel is gone (``not_found``: removed, or never a member)."""
        self.positions.pop(channel, None)
        self.aside.pop(channel, None)
        self.unfinished.discard(channel)

    def gaps(self) -> list[str]:
        """Channels to fill: events kept aside behind a gap, or a recovery cut short."""
        return sorted({ch for ch, kept in self.aside.items() if kept} | self.unfinished)

    def since(self, channels: Iterable[str] | None = None) -> dict[str, int]:
        """Positions to send as ``since`` (all tracked channels, or those given)."""
        if channels is None:
            return dict(self.positions)
        return {ch: self.positions[ch] for ch in channels if ch in self.positions}

    def _drain(self, channel: str) -> list[T]:
        kept = self.aside.get(channel)
        if not kept:
            return []
        out: list[T] = []
        last = self.positions[channel]
        for seq in sorted(kept):
            if seq <= last:
                del kept[seq]
            elif seq == last + 1:
                out.append(kept.pop(seq))
                last = seq
            else:
                break
        self.positions[channel] = last
        if not kept:
            del self.aside[channel]
        return out
