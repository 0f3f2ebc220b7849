"""One task that writes every dirty connection's queue once per scheduler pass.

Waking each connection's writer task for each delivery costs a task switch per delivery,
which dominates when an event goes to a few connections at a time (topics, paced
traffic). Instead, an :class:`~broker.outbox.Outbox` with a direct send marks itself dirty
here; this task wakes once per scheduler pass, after the publishing task has run, and for
each dirty outbox makes one non-blocking write of everything queued. Only a short write
(the socket buffer is full) wakes that connection's writer task, which then owns the
socket until it has sent the rest. Frames from one scheduler pass still coalesce into one
write per connection.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import trio

if TYPE_CHECKING:
    from parley.broker.outbox import Outbox


class Flusher:
    __slots__ = ("_dirty", "_lot", "flushes", "writes")

    def __init__(self) -> None:
        self._dirty: list[Outbox] = []
        self._lot = trio.lowlevel.ParkingLot()
        self.flushes = 0
        self.writes = 0

    def mark(self, outbox: Outbox) -> None:
        """Queue ``outbox`` for the next pass (the outbox marks itself once per pass)."""
        self._dirty.append(outbox)
        if self._lot:
            self._lot.unpark()

    def flush(self) -> None:
        """Write every dirty outbox now (the task's body; also callable from tests)."""
        dirty, self._dirty = self._dirty, []
        self.flushes += 1
        for outbox in dirty:
            self.writes += outbox.flush_direct()

    async def run(self) -> None:
        while True:
            while not self._dirty:
                await self._lot.park()
            self.flush()
