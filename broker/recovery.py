"""Recovery after reconnect as a pure function (STYLE 7).

Given the seq a client last saw in a channel, the events the log returned after it, and the
live events that arrived for the channel while the log was being read, decide what to send:
every missed event once, in seq order, with no gap and no duplicate, then the newer live ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Recovered(Generic[T]):
    #: (seq, item) to deliver, ascending, no duplicate.
    items: list[tuple[int, T]]
    #: True when everything after ``since`` up to the live stream was delivered.
    complete: bool
    #: The last seq replayed from the log (``since`` if none).
    replayed_to: int


def merge(
    since: int,
    stored: Sequence[tuple[int, T]],
    live: Sequence[tuple[int, T]],
    *,
    truncated: bool,
) -> Recovered[T]:
    """``stored``: log events with seq > since ascending (at most the replay bound);
    ``truncated``: the log holds more beyond them; ``live``: events buffered meanwhile,
    ascending. A gap in ``stored`` (which a correct log never has) stops the replay there
    and makes the recovery incomplete."""
    items: list[tuple[int, T]] = []
    expect = since + 1
    complete = not truncated
    for seq, item in stored:
        if seq < expect:
            continue  # duplicate or stale
        if seq > expect:
            complete = False
            break
        items.append((seq, item))
        expect += 1
    replayed_to = expect - 1
    # No gap check between stored and live: live events were held back only for the
    # connection's patterns, and buffering began before the log was read, so a seq missing
    # between them belongs to an event this connection does not receive.
    last = replayed_to
    for seq, item in live:
        if seq > last:
            items.append((seq, item))
            last = seq
    return Recovered(items=items, complete=complete, replayed_to=replayed_to)
