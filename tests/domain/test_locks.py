"""Entity locks: take, contend, heartbeat, release, expiry on virtual time (the service's
clock and the sweeper's sleeps both follow trio's mock clock), release when the holder's
last connection closes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import trio
import trio.testing

from parley.core.codes import ErrorCode
from parley.core.errors import ClientError, Unavailable
from parley.core.topics import entity_segment, lock_topic
from parley.domain.locks import SWEEP_SECONDS, LockService
from parley.domain.services import Services
from parley.store import SqlStore
from tests.support.api import RecordingSink
from tests.support.features import channel, refused

#: The virtual clock's epoch: 2026-01-01T00:00:00Z plus trio's (mock) time.
BASE = 1_767_225_600.0


def virtual() -> Callable[[], float]:
    return lambda: BASE + trio.current_time()


class Connections:
    """The hub's ConnectionWatch as the lock service sees it."""

    def __init__(self) -> None:
        self.open: dict[tuple[str, str], int] = {}
        self.callbacks: list[Callable[[str, str], None]] = []

    def connections_of(self, org: str, user_id: str) -> int:
        return self.open.get((org, user_id), 0)

    def on_user_gone(self, callback: Callable[[str, str], None]) -> None:
        self.callbacks.append(callback)

    def close_last(self, org: str, user_id: str) -> None:
        self.open.pop((org, user_id), None)
        for cb in self.callbacks:
            cb(org, user_id)


def test_entity_segment_is_reversible_and_unambiguous() -> None:
    assert entity_segment("case:4711") == "case_3a4711"
    assert entity_segment("note_01j") == "note_5f01j"
    assert entity_segment("a-b") == "a-b"
    assert entity_segment("a_3a") != entity_segment("a:")
    assert lock_topic("acme", "acquired", "case:4711") == (
        "events.acme.locks.lock.acquired.case_3a4711"
    )


async def test_contended_lock_expires_on_virtual_time(
    store: SqlStore, sink: RecordingSink, org: str, mock_clock: trio.testing.MockClock
) -> None:
    locks = LockService(store, sink, clock=virtual())
    t0 = trio.current_time()
    lock = await locks.acquire(org, "alice", "case:4711", ttl=30)
    assert lock.holder == "alice"
    assert lock.expires_at.timestamp() == pytest.approx(BASE + t0 + 30)
    with pytest.raises(ClientError) as exc:
        await locks.acquire(org, "bob", "case:4711", ttl=30)
    assert exc.value.code is ErrorCode.CONFLICT
    assert "locked by alice until" in exc.value.message
    assert exc.value.details == {"lock": sink.published[0][1]}
    mock_clock.jump(20)
    renewed = await locks.renew(org, "alice", "case:4711", ttl=30)  # heartbeat at +20
    assert renewed.expires_at.timestamp() == pytest.approx(BASE + t0 + 50)
    mock_clock.jump(25)  # +45: still held thanks to the heartbeat
    await refused(ErrorCode.CONFLICT, locks.acquire(org, "bob", "case:4711"))
    mock_clock.jump(10)  # +55: lapsed
    assert await locks.lock(org, "bob", "case:4711") is None
    taken = await locks.acquire(org, "bob", "case:4711", ttl=10)
    assert taken.holder == "bob"
    events = [(t.split(".")[4], d["holder"], d.get("reason")) for t, d in sink.published]
    assert events == [
        ("acquired", "alice", None),
        ("renewed", "alice", None),
        ("released", "alice", "expired"),
        ("acquired", "bob", None),
    ]
    await refused(ErrorCode.CONFLICT, locks.release(org, "alice", "case:4711"))
    await refused(ErrorCode.CONFLICT, locks.renew(org, "alice", "case:4711"))
    assert (await locks.release(org, "bob", "case:4711")).holder == "bob"
    await refused(ErrorCode.NOT_FOUND, locks.release(org, "bob", "case:4711"))
    await refused(ErrorCode.NOT_FOUND, locks.renew(org, "bob", "case:4711"))
    assert await locks.lock("globex", "bob", "case:4711") is None  # org-scoped


async def test_sweeper_announces_expiry(
    store: SqlStore, sink: RecordingSink, org: str, mock_clock: trio.testing.MockClock
) -> None:
    locks = LockService(store, sink, clock=virtual())
    await locks.acquire(org, "alice", "doc-1", ttl=10)
    await locks.acquire(org, "alice", "doc-2", ttl=100)
    assert await locks.sweep() == []  # nothing due
    mock_clock.jump(11)
    assert [lk.entity for lk in await locks.sweep()] == ["doc-1"]
    assert sink.published[-1] == (
        lock_topic(org, "released", "doc-1"),
        {**sink.published[0][1], "reason": "expired"},
    )
    assert [lk.entity for lk in await locks.locks(org, "bob")] == ["doc-2"]
    asked = ["doc-2", "doc-1", "doc-2"]
    assert [lk.entity for lk in await locks.locks(org, "bob", asked)] == ["doc-2"]


class ExpirySink(RecordingSink):
    """Sets ``expired`` when a lock's expiry is announced."""

    def __init__(self) -> None:
        super().__init__()
        self.expired = trio.Event()

    def publish(self, topic: str, data: Any, **kw: Any) -> int:
        if isinstance(data, dict) and data.get("reason") == "expired":
            self.expired.set()
        return super().publish(topic, data, **kw)


async def test_sweeper_task_sleeps_until_the_next_expiry(
    store: SqlStore, org: str, autojump_clock: trio.abc.Clock
) -> None:
    sink = ExpirySink()
    locks = LockService(store, sink, clock=virtual())
    async with trio.open_nursery() as nursery:
        nursery.start_soon(locks.run)
        t0 = trio.current_time()
        await locks.acquire(org, "alice", "doc-1", ttl=40)
        await sink.expired.wait()
        # announced once the TTL passed (the sweeper never fires early)
        assert trio.current_time() - t0 >= 40
        nursery.cancel_scope.cancel()
    assert await locks.locks(org, "bob") == []


async def test_last_connection_closing_releases(
    store: SqlStore, sink: RecordingSink, org: str
) -> None:
    conns = Connections()
    locks = LockService(store, sink, connections=conns)
    conns.open[(org, "alice")] = 1
    await locks.acquire(org, "alice", "a", ttl=600)
    await locks.acquire(org, "alice", "b", ttl=600)
    await locks.acquire(org, "bob", "c", ttl=600)
    conns.open[(org, "bob")] = 1
    conns.close_last(org, "bob")
    conns.open[(org, "bob")] = 1  # reconnected before the sweep: keeps the lock
    conns.close_last(org, "alice")
    released = await locks.sweep()
    assert [(lk.entity, lk.holder) for lk in released] == [("a", "alice"), ("b", "alice")]
    assert [d["reason"] for _, d in sink.published[-2:]] == ["disconnected", "disconnected"]
    assert [lk.entity for lk in await locks.locks(org, "bob")] == ["c"]


async def test_lock_input_rules(store: SqlStore, sink: RecordingSink, org: str) -> None:
    locks = LockService(store, sink)
    for entity in ("", "x" * 201, "a b", "a\x00", "é"):
        await refused(ErrorCode.BAD_REQUEST, locks.acquire(org, "alice", entity))
    for ttl in (0, 0.5, 3601, True, float("nan")):
        await refused(ErrorCode.BAD_REQUEST, locks.acquire(org, "alice", "e", ttl=ttl))


class FlakyStore:
    """The store, whose first ``n`` reads fail as an outage does."""

    def __init__(self, store: SqlStore, n: int) -> None:
        self.store = store
        self.failures = n

    async def read(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        if self.failures:
            self.failures -= 1
            raise Unavailable("database down")
        return await self.store.read(fn, *args, **kwargs)

    async def write(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        return await self.store.write(fn, *args, **kwargs)


async def test_the_sweeper_outlives_an_outage(
    store: SqlStore, org: str, autojump_clock: trio.abc.Clock
) -> None:
    sink = ExpirySink()
    flaky = FlakyStore(store, 3)
    locks = LockService(flaky, sink, clock=virtual())  # type: ignore[arg-type]
    async with trio.open_nursery() as nursery:
        nursery.start_soon(locks.run)
        await trio.sleep(SWEEP_SECONDS * 4)  # three failed sweeps, each retried
        assert flaky.failures == 0
        await locks.acquire(org, "alice", "doc-1", ttl=5)
        await sink.expired.wait()  # still sweeping
        nursery.cancel_scope.cancel()


async def test_locks_on_parley_records_keep_to_their_audience(
    svc: Services, sink: RecordingSink, org: str
) -> None:
    """A lock on a note or task is seen by those who can read it (as REST reads it), and
    pushed to them only; any other id is an org-wide lock."""
    cid = await channel(svc, org)  # alice, bob, carol
    note = await svc.notes.create_note(org, "alice", cid, title="t", body="")
    sink.published.clear()
    sink.audiences.clear()
    await svc.locks.acquire(org, "bob", note.id)
    assert sink.audiences == [cid]  # to the channel's members only
    for call in (
        svc.locks.acquire(org, "eve", note.id),
        svc.locks.lock(org, "eve", note.id),
        svc.locks.renew(org, "eve", note.id),
        svc.locks.release(org, "eve", note.id),
    ):
        await refused(ErrorCode.NOT_FOUND, call)
    assert await svc.locks.locks(org, "eve") == []
    assert await svc.locks.locks(org, "eve", [note.id]) == []
    assert [lk.entity for lk in await svc.locks.locks(org, "carol")] == [note.id]
    await refused(ErrorCode.CONFLICT, svc.locks.acquire(org, "carol", note.id))
    mine = await svc.notes.create_note(org, "eve", None, title="mine", body="")
    await svc.locks.acquire(org, "eve", mine.id)
    assert sink.published[-1][0] == f"events.{org}.users.lock.acquired.eve"
    await refused(ErrorCode.NOT_FOUND, svc.locks.lock(org, "alice", mine.id))
    await svc.locks.acquire(org, "eve", "case:1")
    assert sink.audiences[-1] is None  # a service's id: the whole org
    assert sorted(lk.entity for lk in await svc.locks.locks(org, "alice")) == sorted(
        ["case:1", note.id]
    )
