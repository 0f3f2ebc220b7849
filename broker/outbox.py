"""A connection's bounded outbound queue.

Publishers call :meth:`Outbox.put` synchronously (it never awaits); the connection's writer
awaits :meth:`Outbox.get`, which hands back *everything* queued as one ``bytes`` so the
writer makes one socket write per wakeup however many frames arrived meanwhile. When a
put would pass the frame or byte bound the outbox reports overflow and the owner closes
the connection as a slow consumer; other subscribers are never held up.
"""

from __future__ import annotations

from collections import deque

import trio


class Outbox:
    __slots__ = ("_bytes", "_closed", "_final", "_frames", "_lot", "max_bytes", "max_frames")

    def __init__(self, max_frames: int, max_bytes: int) -> None:
        self._frames: deque[bytes] = deque()
        self._bytes = 0
        self._lot = trio.lowlevel.ParkingLot()
        self._closed = False
        self._final: bytes | None = None
        self.max_frames = max_frames
        self.max_bytes = max_bytes

    def __len__(self) -> int:
        return len(self._frames)

    @property
    def queued_bytes(self) -> int:
        return self._bytes

    @property
    def closed(self) -> bool:
        return self._closed

    def put(self, frame: bytes) -> bool:
        """Queue a frame. False if the outbox is closed or the frame would overflow it
        (the frame is then not queued)."""
        if self._closed:
            return False
        if len(self._frames) >= self.max_frames or self._bytes + len(frame) > self.max_bytes:
            return False
        self._frames.append(frame)
        self._bytes += len(frame)
        if self._lot:
            self._lot.unpark()
        return True

    def close(self, final: bytes | None = None, *, discard: bool = False) -> None:
        """Accept no more frames. ``final`` (a close frame) is written after what is queued,
        or instead of it with ``discard`` (a slow consumer's backlog is dropped)."""
        if self._closed:
            return
        self._closed = True
        if discard:
            self._frames.clear()
            self._bytes = 0
        self._final = final
        self._lot.unpark_all()

    async def get(self) -> bytes | None:
        """Wait for frames and return them all joined; ``None`` once closed and drained."""
        while not self._frames and not self._closed:
            await self._lot.park()
        frames = self._frames
        if frames:
            data = frames[0] if len(frames) == 1 else b"".join(frames)
            frames.clear()
            self._bytes = 0
            return data
        final, self._final = self._final, None
        return final
