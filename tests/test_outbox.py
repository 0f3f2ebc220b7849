from __future__ import annotations

import trio
import trio.testing

from broker.outbox import Outbox


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
