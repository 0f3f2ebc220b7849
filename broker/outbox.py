"""A connection's bounded outbound queue.

Publishers call :meth:`Outbox.put` synchronously (it never awaits). Frames leave in one of
two ways, never both at once:

* **direct** (real sockets): the outbox marks itself dirty with the hub's
  :class:`~broker.flusher.Flusher`, which writes everything queued with one non-blocking
  send per scheduler pass; a short write hands the rest to the writer task;
* **writer**: the connection's writer awaits :meth:`Outbox.get`, which hands back what is
  queued as one ``bytes`` (one socket write per wakeup however many frames arrived
  meanwhile, up to :data:`WRITE_CHUNK`), and calls :meth:`Outbox.sent` when it is written.
  While the writer holds data the direct path stays off, so bytes never interleave.

When a put would pass the frame or byte bound the outbox reports overflow and the owner
closes the connection as a slow consumer; other subscribers are never held up. Its close
frame then goes out first: the queued frames are dropped (all but the rest of a frame
already partly written, which the peer needs to parse what follows), and the writer holds
at most one chunk, so the close is not stuck behind data the peer could not take.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import trio

if TYPE_CHECKING:
    from parley.broker.flusher import Flusher

#: A non-blocking send: returns the number of bytes written; raises BlockingIOError when
#: nothing can be written now, OSError when the transport is gone.
DirectSend = Callable[[bytes], int]

#: Most bytes the writer takes per :meth:`Outbox.get` (whole frames; one frame bigger than
#: this goes alone): what a slow consumer's close frame may still wait behind.
WRITE_CHUNK = 64 * 1024


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
        "_partial",
        "_start_writer",
        "_waiter",
        "max_bytes",
        "max_frames",
    )

    def __init__(self, max_frames: int, max_bytes: int) -> None:
        # A list, not a deque: an empty list is 56 bytes, an empty deque ~770 (one block),
        # and thousands of idle connections each hold one.
        self._frames: list[bytes] = []
        self._bytes = 0
        #: ``_frames[0]`` is the rest of a frame whose start was written (a short write).
        self._partial = False
        #: The writer task parked in get(), if any (only the connection's writer awaits).
        self._waiter: trio.lowlevel.Task | None = None
        #: With a direct send: starts the writer task when one is needed (see attach_direct).
        self._start_writer: Callable[[], None] | None = None
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

    def attach_direct(
        self,
        send: DirectSend,
        flusher: Flusher,
        start_writer: Callable[[], None] | None = None,
    ) -> None:
        """Let ``flusher`` write this queue with ``send`` (see the module docstring).

        With ``start_writer`` the writer task runs only while it has work: the outbox calls
        ``start_writer()`` (which must start a writer unless one is running) when the
        writer is needed and none is parked in :meth:`get`, and the writer returns once
        :meth:`wants_writer` is False. An idle connection then holds no writer task."""
        self._direct = send
        self._flusher = flusher
        self._start_writer = start_writer

    def detach_direct(self) -> None:
        """No more direct writes (call before the transport is closed)."""
        self._direct = None
        self._start_writer = None

    def backlog(self) -> bool:
        """Whether something is queued that only the writer will send: always, without a
        direct send; with one, a close or frames the flusher is not about to write."""
        if self._direct is None or self._start_writer is None or self._closed:
            return True
        return bool(self._frames) and not self._dirty

    def wants_writer(self) -> bool:
        """Whether the writer should call :meth:`get` (again): always, unless the writer is
        started on demand; then only while frames are queued or the outbox is closed."""
        return self._start_writer is None or bool(self._frames) or self._closed

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
        else:
            self._wake()
        return True

    def flush_direct(self) -> int:
        """Write what is queued with the direct send; return 1 if a write was made. A short
        or refused write leaves the rest queued and wakes the writer task."""
        self._dirty = False
        send = self._direct
        if send is None or self._busy or self._closed or not self._frames:
            if self._frames:
                self._wake()  # closed or detached meanwhile: the writer takes over
            return 0
        frames = self._frames
        data = frames[0] if len(frames) == 1 else b"".join(frames)
        try:
            n = send(data)
        except BlockingIOError:
            n = 0
        except OSError:
            n = 0  # the writer's send_all meets the same error and ends the connection
        if n < len(data):
            self._keep_unsent(n)
            self._wake()
        else:
            frames.clear()
            self._bytes = 0
            self._partial = False
        return 1

    def _keep_unsent(self, n: int) -> None:
        """After ``n`` bytes of everything queued were written: drop them, keeping the
        frames (boundaries included) that were not; the first may be a frame's rest."""
        frames = self._frames
        i, pos = 0, n
        while pos and pos >= len(frames[i]):
            pos -= len(frames[i])
            i += 1
        if i:
            del frames[:i]
            self._partial = False
        if pos:
            frames[0] = frames[0][pos:]
            self._partial = True
        self._bytes -= n

    def close(self, final: bytes | None = None, *, discard: bool = False) -> None:
        """Accept no more frames. ``final`` (a close frame) is written after what is queued,
        or instead of it with ``discard`` (a slow consumer's backlog is dropped, but for the
        rest of a frame partly written already)."""
        if self._closed:
            return
        self._closed = True
        if discard:
            frames = self._frames
            if self._partial and frames:
                del frames[1:]
                self._bytes = len(frames[0])
            else:
                frames.clear()
                self._bytes = 0
        self._final = final
        self._wake()

    async def get(self) -> bytes | None:
        """Wait for frames and return them joined (whole frames up to :data:`WRITE_CHUNK`
        bytes, at least one); ``None`` once closed and drained. The caller writes them and
        then calls :meth:`sent`."""
        while not self._frames and not self._closed:
            await self._park()
        if self._frames:
            self._busy = True
            return self._take(WRITE_CHUNK)
        final, self._final = self._final, None
        return final

    def _take(self, limit: int) -> bytes:
        """The first frames queued up to ``limit`` bytes (at least one), as one ``bytes``
        (one socket write), taken off the queue."""
        frames = self._frames
        if self._bytes <= limit:
            data = frames[0] if len(frames) == 1 else b"".join(frames)
            frames.clear()
            self._bytes = 0
        else:
            k, size = 1, len(frames[0])
            while k < len(frames) and size + len(frames[k]) <= limit:
                size += len(frames[k])
                k += 1
            data = frames[0] if k == 1 else b"".join(frames[:k])
            del frames[:k]
            self._bytes -= size
        self._partial = False
        return data

    def sent(self) -> None:
        """The data from :meth:`get` is written; the direct path may write again. (Frames
        queued meanwhile go to the writer's next :meth:`get`, which it calls at once.)"""
        self._busy = False

    # -- the writer's wait (one waiter at most: a ParkingLot costs ~250 bytes per outbox) --
    async def _park(self) -> None:
        if self._waiter is not None:
            raise RuntimeError("Outbox.get() is already awaited by another task")
        self._waiter = trio.lowlevel.current_task()
        await trio.lowlevel.wait_task_rescheduled(self._abort)

    def _abort(self, _: trio.lowlevel.RaiseCancelT) -> trio.lowlevel.Abort:
        self._waiter = None
        return trio.lowlevel.Abort.SUCCEEDED

    def _wake(self) -> None:
        task = self._waiter
        if task is not None:
            self._waiter = None
            trio.lowlevel.reschedule(task)
        elif self._start_writer is not None:
            self._start_writer()
