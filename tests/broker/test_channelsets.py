"""The batched channel-set loader: many accepts, one store read."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
import trio
import trio.testing

from parley.broker.channelsets import ChannelSetLoader, UserKey
from parley.core.errors import Unavailable


class Reads:
    """A store of channel sets whose reads are recorded and can be held."""

    def __init__(self, sets: dict[UserKey, set[str]]) -> None:
        self.sets = sets
        self.reads: list[list[UserKey]] = []
        self.gate: trio.Event | None = None
        self.fail: Exception | None = None

    async def fetch(self, users: Sequence[UserKey]) -> dict[UserKey, set[str]]:
        self.reads.append(list(users))
        if self.gate is not None:
            await self.gate.wait()
        await trio.lowlevel.checkpoint()
        if self.fail is not None:
            raise self.fail
        return {key: set(self.sets.get(key, set())) for key in users}


async def _load_all(loader: ChannelSetLoader, keys: list[UserKey]) -> dict[UserKey, Any]:
    got: dict[UserKey, Any] = {}

    async def one(key: UserKey) -> None:
        try:
            got[key] = await loader.load(*key)
        except Unavailable as exc:
            got[key] = exc

    async with trio.open_nursery() as nursery:
        for key in keys:
            nursery.start_soon(one, key)
    return got


async def test_simultaneous_loads_share_one_read(autojump_clock: Any) -> None:
    reads = Reads({("acme", f"u{i}"): {f"c{i}"} for i in range(50)})
    loader = ChannelSetLoader(reads.fetch)
    async with trio.open_nursery() as nursery:
        await nursery.start(loader.run)
        keys = [("acme", f"u{i}") for i in range(50)] + [("other", "u1")]
        got = await _load_all(loader, keys)
        nursery.cancel_scope.cancel()
    assert got == {**{("acme", f"u{i}"): {f"c{i}"} for i in range(50)}, ("other", "u1"): set()}
    assert len(reads.reads) == 1 and sorted(reads.reads[0]) == sorted(keys)
    assert (loader.reads, loader.users) == (1, 51)


async def test_loads_queued_during_a_read_go_in_the_next(autojump_clock: Any) -> None:
    """A user queued while a read is in flight never joins it (that read may predate the
    user's attach to the hub): the next read, again one for all of them."""
    reads = Reads({("acme", "a"): {"c1"}, ("acme", "b"): {"c2"}})
    reads.gate = trio.Event()
    loader = ChannelSetLoader(reads.fetch)
    got: dict[str, Any] = {}

    async def load(user: str) -> None:
        got[user] = await loader.load("acme", user)

    async with trio.open_nursery() as nursery:
        await nursery.start(loader.run)
        nursery.start_soon(load, "a")
        await trio.testing.wait_all_tasks_blocked()
        assert reads.reads == [[("acme", "a")]]
        for user in ("a", "b", "b"):  # "a" again: a second connection of the same user
            nursery.start_soon(load, user)
        await trio.testing.wait_all_tasks_blocked()
        reads.gate.set()
        await trio.testing.wait_all_tasks_blocked()
        nursery.cancel_scope.cancel()
    assert [sorted(r) for r in reads.reads] == [[("acme", "a")], [("acme", "a"), ("acme", "b")]]
    assert got == {"a": {"c1"}, "b": {"c2"}}


async def test_batches_are_bounded(autojump_clock: Any) -> None:
    reads = Reads({})
    loader = ChannelSetLoader(reads.fetch, max_batch=4)
    async with trio.open_nursery() as nursery:
        await nursery.start(loader.run)
        await _load_all(loader, [("acme", f"u{i}") for i in range(10)])
        nursery.cancel_scope.cancel()
    assert [len(r) for r in reads.reads] == [4, 4, 2]


async def test_an_outage_fails_every_waiter_of_the_read(autojump_clock: Any) -> None:
    reads = Reads({})
    reads.fail = Unavailable("database unavailable")
    loader = ChannelSetLoader(reads.fetch)
    async with trio.open_nursery() as nursery:
        await nursery.start(loader.run)
        got = await _load_all(loader, [("acme", "a"), ("acme", "b")])
        reads.fail = None  # the store is back: the next load reads again
        assert await loader.load("acme", "a") == set()
        nursery.cancel_scope.cancel()
    assert all(isinstance(v, Unavailable) for v in got.values())
    assert loader.reads == 1


async def test_a_bug_in_the_read_is_logged_once_and_raised_to_the_waiters(
    autojump_clock: Any, caplog: pytest.LogCaptureFixture
) -> None:
    reads = Reads({})
    reads.fail = RuntimeError("bug")
    loader = ChannelSetLoader(reads.fetch)
    async with trio.open_nursery() as nursery:
        await nursery.start(loader.run)
        with pytest.raises(RuntimeError, match="bug"):
            await loader.load("acme", "a")
        nursery.cancel_scope.cancel()
    assert caplog.text.count("channel sets failed") == 1


async def test_stopping_the_loader_releases_its_waiters(autojump_clock: Any) -> None:
    """Waiters of a read in flight and of the queue get ``Unavailable`` (no one hangs)."""
    reads = Reads({})
    reads.gate = trio.Event()
    loader = ChannelSetLoader(reads.fetch)
    got: dict[UserKey, Any] = {}
    async with trio.open_nursery() as outer, trio.open_nursery() as nursery:
        await nursery.start(loader.run)
        assert loader.running

        async def load(key: UserKey) -> None:
            got[key] = await _load_all(loader, [key])

        outer.start_soon(load, ("acme", "a"))
        await trio.testing.wait_all_tasks_blocked()
        outer.start_soon(load, ("acme", "b"))  # queued behind the held read
        await trio.testing.wait_all_tasks_blocked()
        nursery.cancel_scope.cancel()
    assert not loader.running
    assert all(isinstance(v[k], Unavailable) for k, v in got.items())
    assert len(got) == 2
