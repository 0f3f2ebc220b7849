"""A connection's bounded outbound queue.

Publishers call :meth:`Outbox.put` synchronously (it never awaits). Frames leave in one of
two ways, never both at once:

* **direct** (real sockets): the outbox marks itself dirty with the hub's
  :class:`~broker.flusher.Flusher`, which writes everything queued with one non-blocking
  send per scheduler pass; a short write hands the rest to the writer task;
* **writer**: the connection's writer awaits :meth:`Outbox.get`, which hands back
  *everything* queued as one ``bytes`` (one socket write per wakeup however many frames
  arrived meanwhile), and calls :meth:`Outbox.sent` when it is written. While the writer
  holds data the direct path stays off, so bytes never interleave.

When a put would pass the frame or byte bound the outbox reports overflow and the owner
closes the connection as a slow consumer; other subscribers are never held up.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

import trio

if TYPE_CHECKING:
    from broker.flusher import Flusher

#: A non-blocking send: returns the number of bytes written; raises BlockingIOError when
#: nothing can be written now, OSError when the transport is gone.
DirectSend = Callable[[bytes], int]


class Outbox:
    __slots__ = (
        "_busy",
        "_bytes",
        "_closed",
        "_direct",
        "_dirty",
        "_final",
        "_flusher",
        "_frames",
        "_lot",
        "max_bytes",
        "max_frames",
    )

    def __init__(self, max_frames: int, max_bytes: int) -> None:
        self._frames: deque[bytes] = deque()
        self._bytes = 0
        self._lot = trio.lowlevel.ParkingLot()
        self._closed = False
        self._final: bytes | None = None
        self._busy = False  # the writer holds data it has not finished sending
        self._dirty = False  # marked with the flusher for this pass
        self._direct: DirectSend | None = None
        self._flusher: Flusher | None = None
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

    def attach_direct(self, send: DirectSend, flusher: Flusher) -> None:
        """Let ``flusher`` write this queue with ``send`` (see the module docstring)."""
        self._direct = send
        self._flusher = flusher

    def detach_direct(self) -> None:
        """No more direct writes (call before the transport is closed)."""
        self._direct = None

    def put(self, frame: bytes) -> bool:
        """Queue a frame. False if the outbox is closed or the frame would overflow it
        (the frame is then not queued)."""
        if self._closed:
            return False
        if len(self._frames) >= self.max_frames or self._bytes + len(frame) > self.max_bytes:
            return False
        self._frames.append(frame)
        self._bytes += len(frame)
        if self._busy:
            return True  # the writer takes it after its current write
        if self._direct is not None and self._flusher is not None:
            if not self._dirty:
                self._dirty = True
                self._flusher.mark(self)
        elif self._lot:
            self._lot.unpark()
        return True

    def flush_direct(self) -> int:
        """Write what is queued with the direct send; return 1 if a write was made. A short
        or refused write leaves the rest queued and wakes the writer task."""
        self._dirty = False
        send = self._direct
        if send is None or self._busy or self._closed or not self._frames:
            if self._frames and self._lot:
                self._lot.unpark()  # closed or detached meanwhile: the writer takes over
            return 0
        frames = self._frames
        data = frames[0] if len(frames) == 1 else b"".join(frames)
        frames.clear()
        try:
            n = send(data)
        except BlockingIOError:
            n = 0
        except OSError:
            n = 0  # the writer's send_all meets the same error and ends the connection
        if n < len(data):
            rest = data[n:]
            frames.append(rest)
            self._bytes = len(rest)
            self._lot.unpark()
        else:
            self._bytes = 0
        return 1

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
        """Wait for frames and return them all joined; ``None`` once closed and drained.
        The caller writes them and then calls :meth:`sent`."""
        while not self._frames and not self._closed:
            await self._lot.park()
        frames = self._frames
        if frames:
            data = frames[0] if len(frames) == 1 else b"".join(frames)
            frames.clear()
            self._bytes = 0
            self._busy = True
            return data
        final, self._final = self._final, None
        return final

    def sent(self) -> None:
        """The data from :meth:`get` is written; the direct path may write again. (Frames
        queued meanwhile go to the writer's next :meth:`get`, which it calls at once.)"""
        self._busy = False
