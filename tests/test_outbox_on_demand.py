"""An outbox whose writer task is started on demand (the direct path of real sockets)."""

from __future__ import annotations

import trio
import trio.testing

from parley.broker.flusher import Flusher
from parley.broker.outbox import Outbox


class Sock:
    """A direct send that takes at most ``room`` bytes per call."""

    def __init__(self, room: int) -> None:
        self.room = room
        self.written: list[bytes] = []

    def send(self, data: bytes) -> int:
        if self.room == 0:
            raise BlockingIOError
        n = min(self.room, len(data))
        self.written.append(data[:n])
        return n


async def test_writer_started_for_backlog_and_close_only(
    autojump_clock: trio.testing.MockClock,
) -> None:
    flusher = Flusher()
    sock = Sock(room=100)
    box = Outbox(max_frames=10, max_bytes=1000)
    runs: list[list[bytes | None]] = []

    async with trio.open_nursery() as nursery:

        async def writer() -> None:
            got: list[bytes | None] = []
            runs.append(got)
            while box.wants_writer():
                data = await box.get()
                got.append(data)
                if data is None:
                    return
                box.sent()

        box.attach_direct(sock.send, flusher, lambda: nursery.start_soon(writer))
        box.put(b"hello")
        assert not box.backlog()  # the flusher is about to write it: no writer needed
        flusher.flush()
        await trio.sleep(1)
        assert (sock.written, runs) == ([b"hello"], [])  # written directly: no writer

        sock.room = 2
        box.put(b"abcdef")
        flusher.flush()  # short write: the writer is started for the rest, then returns
        await trio.sleep(1)
        assert sock.written[-1] == b"ab"
        assert runs == [[b"cdef"]]

        box.close(b"BYE")  # the close frame needs a writer again
        assert box.backlog()
        await trio.sleep(1)
        assert runs == [[b"cdef"], [b"BYE", None]]
        assert box.closed


async def test_without_start_writer_the_writer_always_waits() -> None:
    box = Outbox(max_frames=10, max_bytes=100)
    assert box.wants_writer()  # a writer parks in get() for the connection's life
    assert box.backlog()
    box.attach_direct(Sock(room=10).send, Flusher())
    assert box.wants_writer()
    box.detach_direct()
    assert box.wants_writer()
