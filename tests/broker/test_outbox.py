from __future__ import annotations

from typing import Any

import trio
import trio.testing
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, CloseConnection, Request
from wsproto.frame_protocol import FrameProtocol, Opcode

from parley.broker.flusher import Flusher
from parley.broker.frames import text_frame
from parley.broker.outbox import WRITE_CHUNK, Outbox
from parley.broker.wsconn import WsServerConnection, open_connection


async def test_put_never_awaits_and_reports_overflow_by_frames() -> None:
    box = Outbox(max_frames=2, max_bytes=1000)
    assert box.put(b"a") is True
    assert box.put(b"bb") is True
    assert box.put(b"c") is False  # third frame: over the frame bound, not queued
    assert len(box) == 2
    assert box.queued_bytes == 3
    assert await box.get() == b"abb"


async def test_overflow_by_bytes_keeps_what_was_queued() -> None:
    box = Outbox(max_frames=100, max_bytes=10)
    assert box.put(b"12345") is True
    assert box.put(b"67890") is True  # exactly at the byte bound
    assert box.put(b"x") is False
    assert (len(box), box.queued_bytes) == (2, 10)
    assert await box.get() == b"1234567890"
    # Draining frees the room again.
    assert (len(box), box.queued_bytes) == (0, 0)
    assert box.put(b"abcdefghij") is True
    assert box.put(b"k") is False


async def test_single_frame_get_returns_the_same_object() -> None:
    box = Outbox(max_frames=10, max_bytes=100)
    frame = b"shared-frame"
    box.put(frame)
    assert await box.get() is frame


async def test_get_coalesces_everything_queued() -> None:
    box = Outbox(max_frames=10, max_bytes=100)
    for f in (b"one", b"two", b"three"):
        box.put(f)
    assert await box.get() == b"onetwothree"
    assert len(box) == 0


async def test_close_delivers_queued_then_final_then_none() -> None:
    box = Outbox(max_frames=10, max_bytes=100)
    box.put(b"a")
    box.put(b"b")
    box.close(b"FINAL")
    assert box.closed is True
    assert box.put(b"late") is False
    assert await box.get() == b"ab"
    assert await box.get() == b"FINAL"
    assert await box.get() is None
    assert await box.get() is None


async def test_close_without_final_drains_then_none() -> None:
    box = Outbox(max_frames=10, max_bytes=100)
    box.put(b"a")
    box.close()
    assert await box.get() == b"a"
    assert await box.get() is None


async def test_close_discard_drops_backlog() -> None:
    box = Outbox(max_frames=10, max_bytes=100)
    box.put(b"a")
    box.put(b"b")
    box.close(b"BYE", discard=True)
    assert (len(box), box.queued_bytes) == (0, 0)
    assert await box.get() == b"BYE"
    assert await box.get() is None


async def test_second_close_is_ignored() -> None:
    box = Outbox(max_frames=10, max_bytes=100)
    box.close(b"first")
    box.close(b"second", discard=True)
    assert await box.get() == b"first"
    assert await box.get() is None


async def test_parked_writer_woken_by_put(autojump_clock: trio.testing.MockClock) -> None:
    box = Outbox(max_frames=10, max_bytes=100)
    got: list[tuple[float, bytes | None]] = []

    async def writer() -> None:
        while (data := await box.get()) is not None:
            got.append((trio.current_time(), data))
            box.sent()
        got.append((trio.current_time(), None))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(writer)
        await trio.sleep(5)
        assert got == []  # parked: nothing queued
        box.put(b"x")
        box.put(b"y")  # both put before the writer runs: one coalesced write
        await trio.sleep(1)
        box.put(b"z")
        await trio.sleep(1)
        box.close(b"END")
    assert got == [(5.0, b"xy"), (6.0, b"z"), (7.0, b"END"), (7.0, None)]


async def test_parked_writer_woken_by_close(autojump_clock: trio.testing.MockClock) -> None:
    box = Outbox(max_frames=10, max_bytes=100)
    results: list[bytes | None] = []

    async def writer() -> None:
        results.append(await box.get())

    async with trio.open_nursery() as nursery:
        nursery.start_soon(writer)
        await trio.sleep(3)
        box.close()
    assert results == [None]
    assert trio.current_time() == 3.0


# -- the direct path (broker/flusher.py) ----------------------------------------------------


class Socket:
    """A direct send that accepts up to ``room`` bytes per call (None: everything)."""

    def __init__(self, room: int | None = None) -> None:
        self.room = room
        self.written: list[bytes] = []

    def send(self, data: bytes) -> int:
        if self.room == 0:
            raise BlockingIOError
        n = len(data) if self.room is None else min(self.room, len(data))
        self.written.append(data[:n])
        return n


def direct_box(sock: Socket, flusher: Flusher, **kw: int) -> Outbox:
    box = Outbox(max_frames=kw.get("max_frames", 10), max_bytes=kw.get("max_bytes", 100))
    box.attach_direct(sock.send, flusher)
    return box


async def test_flusher_writes_each_dirty_outbox_once_per_pass() -> None:
    flusher = Flusher()
    a, b = Socket(), Socket()
    box_a, box_b = direct_box(a, flusher), direct_box(b, flusher)
    for frame in (b"1", b"2", b"3"):
        box_a.put(frame)
    box_b.put(b"x")
    flusher.flush()
    assert (a.written, b.written) == ([b"123"], [b"x"])
    assert (len(box_a), box_a.queued_bytes, flusher.writes) == (0, 0, 2)
    flusher.flush()  # nothing dirty: no write
    assert flusher.writes == 2


async def test_short_direct_write_hands_the_rest_to_the_writer(
    autojump_clock: trio.testing.MockClock,
) -> None:
    flusher = Flusher()
    sock = Socket(room=2)
    box = direct_box(sock, flusher)
    written: list[bytes] = []

    async def writer() -> None:
        while (data := await box.get()) is not None:
            written.append(data)
            box.put(b"late")  # queued while the writer holds data: not direct
            flusher.flush()
            box.sent()
            return

    async with trio.open_nursery() as nursery:
        nursery.start_soon(writer)
        await trio.sleep(1)
        box.put(b"abcdef")
        flusher.flush()
        assert sock.written == [b"ab"]
        await trio.sleep(1)
    assert written == [b"cdef"]
    assert sock.written == [b"ab"]  # "late" waited for the writer; never interleaved
    assert len(box) == 1 and box.queued_bytes == 4


async def test_refused_direct_write_keeps_everything_queued(
    autojump_clock: trio.testing.MockClock,
) -> None:
    flusher = Flusher()
    box = direct_box(Socket(room=0), flusher)
    box.put(b"abc")
    flusher.flush()
    assert (len(box), box.queued_bytes) == (1, 3)
    assert await box.get() == b"abc"


async def test_detached_or_closed_outbox_is_left_to_the_writer() -> None:
    flusher = Flusher()
    sock = Socket()
    box = direct_box(sock, flusher)
    box.put(b"a")
    box.detach_direct()
    flusher.flush()
    box.close(b"END")
    flusher.flush()
    assert sock.written == []
    assert [await box.get(), await box.get(), await box.get()] == [b"a", b"END", None]


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


# -- a slow consumer's close goes first ---------------------------------------------------


def ws_server() -> WsServerConnection:
    client, server = WSConnection(ConnectionType.CLIENT), WSConnection(ConnectionType.SERVER)
    server.receive_data(client.send(Request(host="localhost", target="/ws")))
    next(server.events())
    server.send(AcceptConnection())
    return open_connection(server)


def frames_of(data: bytes) -> list[Any]:
    """What a client parses out of ``data`` (server frames, as wsproto decodes them)."""
    client = FrameProtocol(client=True, extensions=[])
    client.receive_bytes(data)
    return [(f.opcode, f.payload) for f in client.received_frames()]


async def test_discard_after_a_short_write_keeps_the_rest_of_the_frame_begun() -> None:
    """The peer got half a frame: it must get the other half, then the close frame, not
    the close frame's bytes read as the rest of that payload."""
    flusher = Flusher()
    sock = Socket(room=5)
    box = Outbox(max_frames=10, max_bytes=10_000)
    box.attach_direct(sock.send, flusher)
    one, two, three = (text_frame(f'{{"n":{i}}}'.encode()) for i in (1, 2, 3))
    for f in (one, two, three):
        box.put(f)
    flusher.flush()  # 5 bytes of frame one written
    sock.room = len(one)  # the rest of one and the start of two
    box.flush_direct()  # (what the flusher calls)
    assert len(box) == 2 and box.queued_bytes == len(two) + len(three) - 5
    close = ws_server().send(CloseConnection(4000, "slow consumer"))
    box.close(close, discard=True)
    assert box.queued_bytes == len(two) - 5  # frame three dropped, two's rest kept
    rest = [await box.get(), await box.get(), await box.get()]
    assert rest[2] is None
    stream = b"".join(sock.written) + b"".join(d for d in rest if d is not None)
    parsed = frames_of(stream)
    assert [op for op, _ in parsed] == [Opcode.TEXT, Opcode.TEXT, Opcode.CLOSE]
    assert parsed[-1][1] == (4000, "slow consumer")


async def test_discard_at_a_frame_boundary_drops_everything_queued() -> None:
    flusher = Flusher()
    sock = Socket(room=0)
    box = Outbox(max_frames=10, max_bytes=10_000)
    box.attach_direct(sock.send, flusher)
    box.put(b"abc")
    flusher.flush()  # refused: nothing written, nothing begun
    box.close(b"BYE", discard=True)
    assert [await box.get(), await box.get()] == [b"BYE", None]


async def test_the_writer_takes_at_most_one_chunk() -> None:
    """So a close started meanwhile waits behind one chunk, not the whole backlog."""
    box = Outbox(max_frames=1000, max_bytes=10 << 20)
    frame = b"x" * 16_000
    for _ in range(20):
        box.put(frame)
    data = await box.get()
    assert data is not None and len(data) == 4 * 16_000 <= WRITE_CHUNK
    box.sent()
    box.close(b"BYE", discard=True)
    assert [await box.get(), await box.get()] == [b"BYE", None]
    big = Outbox(max_frames=10, max_bytes=10 << 20)
    big.put(b"y" * (WRITE_CHUNK + 1))  # a frame over the chunk goes alone, whole
    assert await big.get() == b"y" * (WRITE_CHUNK + 1)
