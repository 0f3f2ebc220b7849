"""Per-channel order across nodes, sans-IO: no clock, no I/O (STYLE 1, 7).

Every committed channel event reaches a node once, from its own store's commit listener or
from the bus, in any order between nodes. :class:`Sequencer` releases each channel's
events in seq order with no gap and no duplicate:

- the next seq of a channel is released at once; an older one is a duplicate and dropped;
- a later one is held, and the channel's deadline set ``wait`` seconds ahead; when the
  missing ones arrive the run is released; at the deadline :meth:`due` asks for the missing
  range to be read from the store (the source of truth), and :meth:`filled` releases it
  with what was held; a range the store does not have either is skipped;
- the first event seen of a channel (``seq > 1``) is held ``wait`` seconds, so that its
  predecessor still in flight from another node goes first; at the deadline it is
  released without reading the store (this node did not follow the channel before);
- :meth:`resync` (after the bus reconnects) reads every followed channel's events after
  the last one released, which brings the ones committed while the bus was down.

Time comes in as ``now`` (``trio.current_time()`` in the adapter). Channels followed are
capped (``max_channels``): the oldest idle ones are forgotten, and start over as first
seen.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")

INF = float("inf")


@dataclass(slots=True)
class _Held(Generic[T]):
    items: dict[int, T] = field(default_factory=dict)
    deadline: float = INF
    #: first sight: release at the deadline without reading the store
    soft: bool = False
    #: a store read is under way (no deadline meanwhile)
    fetching: bool = False


@dataclass(frozen=True, slots=True)
class Gap(Generic[K]):
    """Read ``key``'s events with seq > ``after`` (at most ``limit``) and pass them to
    :meth:`Sequencer.filled`."""

    key: K
    after: int
    limit: int


Released = list[tuple[int, T]]


class Sequencer(Generic[K, T]):
    def __init__(self, wait: float, *, max_channels: int = 100_000, fetch_limit: int = 1000):
        self.wait = wait
        self.max_channels = max_channels
        self.fetch_limit = fetch_limit
        self._next: dict[K, int] = {}
        self._held: dict[K, _Held[T]] = {}
        self.duplicates = 0
        self.gaps = 0
        self.filled_events = 0
        self.skipped = 0

    def tracked(self, key: K) -> bool:
        return key in self._next

    def __len__(self) -> int:
        return len(self._next)

    @property
    def waiting(self) -> bool:
        """Some channel holds events or reads the store (a deadline may be due)."""
        return bool(self._held)

    @property
    def holding(self) -> int:
        return sum(len(h.items) for h in self._held.values())

    def offer(self, key: K, seq: int, item: T, now: float) -> Released[T]:
        """An event arrived; return what may be delivered now, in order."""
        nxt = self._next.get(key)
        if nxt is None:
            if len(self._next) >= self.max_channels:
                self._evict()
            if seq <= 1:
                self._next[key] = seq + 1
                return [(seq, item)]
            self._next[key] = seq - 1
            self._held[key] = _Held({seq: item}, now + self.wait, soft=True)
            return []
        if seq < nxt:
            self.duplicates += 1
            return []
        held = self._held.get(key)
        if held is None:
            if seq == nxt:
                self._next[key] = seq + 1
                return [(seq, item)]
            self.gaps += 1
            held = self._held[key] = _Held(deadline=now + self.wait)
        if seq in held.items:
            self.duplicates += 1
            return []
        held.items[seq] = item
        return self._drain(key)

    def next_deadline(self) -> float:
        return min((h.deadline for h in self._held.values()), default=INF)

    def due(self, now: float) -> tuple[list[tuple[K, Released[T]]], list[Gap[K]]]:
        """At the deadlines passed: first-seen channels released, and the gaps to read."""
        released: list[tuple[K, Released[T]]] = []
        gaps: list[Gap[K]] = []
        for key, held in list(self._held.items()):
            if held.deadline > now:
                continue
            if held.soft:
                self._next[key] = min(held.items)
                released.append((key, self._drain(key)))
            else:
                held.fetching = True
                held.deadline = INF
                gaps.append(Gap(key, self._next[key] - 1, self.fetch_limit))
        return released, gaps

    def filled(self, key: K, stored: list[tuple[int, T]], now: float) -> Released[T]:
        """What the store returned for a :class:`Gap` (ascending); release what can be."""
        held = self._held.get(key)
        if held is None or key not in self._next:
            return []
        held.fetching = False
        before = self._next[key]
        nxt = before
        for seq, item in stored:
            if seq >= nxt and seq not in held.items:
                held.items[seq] = item
                self.filled_events += 1
        out = self._drain(key)
        held2 = self._held.get(key)
        if held2 is not None:
            if self._next[key] > before and len(stored) >= self.fetch_limit:
                held2.deadline = now  # more to read: at once
            elif held2.items:
                self.skipped += min(held2.items) - self._next[key]
                self._next[key] = min(held2.items)
                out += self._drain(key)
        return out

    def resync(self, now: float, limit: int = 1000) -> list[Gap[K]]:
        """Read every followed channel's newer events (at most ``limit`` channels, the most
        recently followed): after the bus was down, the store has what it missed."""
        gaps: list[Gap[K]] = []
        for key in reversed(list(self._next)):
            if len(gaps) >= limit:
                break
            held = self._held.get(key)
            if held is not None and (held.fetching or held.soft):
                continue
            if held is None:
                held = self._held[key] = _Held()
            held.fetching = True
            held.deadline = INF
            gaps.append(Gap(key, self._next[key] - 1, self.fetch_limit))
        return gaps

    def forget(self, which: Callable[[K], bool]) -> list[tuple[K, Released[T]]]:
        """Stop following the channels ``which`` selects (the node's interest in them was
        just gained again: what it saw before may be stale); release what they held."""
        out: list[tuple[K, Released[T]]] = []
        for key in [k for k in self._next if which(k)]:
            held = self._held.pop(key, None)
            del self._next[key]
            if held is not None and held.items:
                out.append((key, sorted(held.items.items())))
        return out

    def _drain(self, key: K) -> Released[T]:
        held = self._held[key]
        nxt = self._next[key]
        out: Released[T] = []
        items = held.items
        while nxt in items:
            out.append((nxt, items.pop(nxt)))
            nxt += 1
        self._next[key] = nxt
        if not items and not held.fetching:
            del self._held[key]
        if held.soft and out:
            held.soft = False
        return out

    def _evict(self) -> None:
        drop = max(1, self.max_channels // 10)
        for key in list(self._next):
            if drop == 0:
                break
            if key not in self._held:
                del self._next[key]
                drop -= 1
