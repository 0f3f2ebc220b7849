"""The job scheduler on a real store (SQLite and PostgreSQL), on virtual time."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable

import pytest
import trio
import trio.testing

from parley.domain.jobs import GiveUp, JobScheduler, JobsConfig, Retry
from parley.store import SqlStore, open_store, sql
from parley.store.sql.jobs import Job


def virtual_clock() -> Callable[[], float]:
    base = time.time() - trio.current_time()
    return lambda: base + trio.current_time()


async def settled(store: SqlStore, kind: str, key: str) -> Job:
    """The job once it has left ``pending``/``running`` (polled on virtual time)."""
    while True:
        job = await store.read(sql.jobs.get_job, kind, key)
        if job is not None and job.state not in ("pending", "running"):
            return job
        await trio.sleep(1)


class Runs:
    """What handlers ran, awaited one by one: store reads run in threads, during which
    autojump_clock moves on, so tests wait for runs rather than for virtual seconds."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.all: list[tuple[str, float, Job]] = []
        self._send, self._recv = trio.open_memory_channel[tuple[str, float, Job]](1000)

    async def handler(self, job: Job) -> None:
        item = (job.key, self.clock(), job)
        self.all.append(item)
        self._send.send_nowait(item)

    async def next(self) -> tuple[str, float, Job]:
        # No deadline here: while the poller waits for a store thread, autojump_clock
        # would jump straight to it.
        return await self._recv.receive()


async def test_a_job_runs_once_at_its_time_and_scheduling_is_idempotent(
    store: SqlStore, autojump_clock: trio.testing.MockClock
) -> None:
    clock = virtual_clock()
    jobs = JobScheduler(store, JobsConfig(poll_interval=5.0), clock=clock)
    runs = Runs(clock)
    jobs.register("ping", runs.handler)
    start = clock()
    first, new = await jobs.schedule("ping", "k1", "acme", at=start + 30, payload={"n": 1})
    again, new2 = await jobs.schedule("ping", "k1", "acme", at=start + 99, payload={"n": 2})
    assert new and not new2 and again.id == first.id  # one row per (kind, key)
    async with trio.open_nursery() as nursery:
        await nursery.start(jobs.run)
        key, at, job = await runs.next()
        assert (key, job.payload) == ("k1", {"n": 1})
        assert at == pytest.approx(start + 30, abs=0.5)  # woken at its time, not before
        done = await settled(store, "ping", "k1")
        await trio.sleep(600)
        nursery.cancel_scope.cancel()
    assert len(runs.all) == 1
    assert done.state == "done" and done.attempts == 1


async def test_a_job_scheduled_sooner_wakes_a_sleeping_poller(
    store: SqlStore, autojump_clock: trio.testing.MockClock
) -> None:
    # Jump only after real idleness: schedule()'s store thread must not count as idle,
    # or the clock would jump to the poller's hour-long sleep while it writes.
    autojump_clock.autojump_threshold = 0.3
    clock = virtual_clock()
    jobs = JobScheduler(store, JobsConfig(poll_interval=3600.0), clock=clock)
    runs = Runs(clock)
    jobs.register("ping", runs.handler)
    async with trio.open_nursery() as nursery:
        await nursery.start(jobs.run)
        await trio.sleep(10)
        at = clock() + 5
        await jobs.schedule("ping", "soon", "acme", at=at, payload={})
        _, ran_at, _ = await runs.next()
        nursery.cancel_scope.cancel()
    assert ran_at == pytest.approx(at, abs=0.5)  # not an hour later


async def test_failures_retry_with_exponential_backoff_then_fail_for_good(
    store: SqlStore, autojump_clock: trio.testing.MockClock
) -> None:
    clock = virtual_clock()
    jobs = JobScheduler(store, JobsConfig(poll_interval=1.0), clock=clock)
    tries: list[float] = []
    gave_up = trio.Event()

    async def flaky(job: Job) -> None:
        tries.append(clock())
        if job.attempts == 4:
            gave_up.set()
        raise Retry("receiver down")

    async def broken(job: Job) -> None:
        raise GiveUp("bad payload")

    jobs.register("flaky", flaky, max_attempts=4, backoff_first=10.0, backoff_max=25.0)
    jobs.register("broken", broken)
    start = clock()
    await jobs.schedule("flaky", "f", "acme", at=start, payload={})
    await jobs.schedule("broken", "b", "acme", at=start, payload={})
    async with trio.open_nursery() as nursery:
        await nursery.start(jobs.run)
        await gave_up.wait()
        await settled(store, "flaky", "f")
        await settled(store, "broken", "b")
        nursery.cancel_scope.cancel()
    gaps = [b - a for a, b in itertools.pairwise(tries)]
    # doubled, capped; 4 attempts in all (plus a poll or two: store threads let
    # autojump_clock move on by up to the poll interval)
    assert len(gaps) == 3
    assert all(
        want - 0.01 <= got <= want + 3 for want, got in zip([10, 20, 25], gaps, strict=True)
    ), gaps
    flaky_job = await store.read(sql.jobs.get_job, "flaky", "f")
    broken_job = await store.read(sql.jobs.get_job, "broken", "b")
    assert flaky_job is not None and flaky_job.state == "failed" and flaky_job.attempts == 4
    assert flaky_job.last_error == "receiver down"
    assert broken_job is not None and broken_job.state == "failed" and broken_job.attempts == 1
    assert broken_job.last_error == "bad payload"


async def test_a_claim_whose_node_died_runs_again_after_the_lease_and_the_dead_claim_is_fenced(
    store: SqlStore, autojump_clock: trio.testing.MockClock
) -> None:
    clock = virtual_clock()
    jobs = JobScheduler(store, JobsConfig(poll_interval=1.0, lease=30.0), clock=clock)
    runs = Runs(clock)
    jobs.register("ping", runs.handler)
    now = clock()
    await jobs.schedule("ping", "k", "acme", at=now, payload={})
    # A node claims it and dies before finishing: nothing marks it done.
    [dead] = await store.write(
        sql.jobs.claim, "dead-node", now_us=int(now * 1e6), lease_us=30_000_000, limit=10
    )
    assert dead.state == "running" and dead.claimed_by == "dead-node"
    async with trio.open_nursery() as nursery:
        await nursery.start(jobs.run)
        key, at, job = await runs.next()
        assert (key, job.attempts) == ("k", 2)
        assert now + 29.99 <= at < now + 32  # only once the dead node's lease expired
        await settled(store, "ping", "k")
        nursery.cancel_scope.cancel()
    # The dead node coming back cannot overwrite what the re-run settled.
    assert not await store.write(sql.jobs.finish, dead, now_us=int(clock() * 1e6))
    final = await store.read(sql.jobs.get_job, "ping", "k")
    assert final is not None and final.state == "done" and final.claimed_by == jobs.worker


async def test_cancel_and_reschedule_only_while_pending(
    store: SqlStore, autojump_clock: trio.testing.MockClock
) -> None:
    clock = virtual_clock()
    jobs = JobScheduler(store, clock=clock)
    runs = Runs(clock)
    jobs.register("ping", runs.handler)
    now = clock()
    await jobs.schedule("ping", "a", "acme", at=now + 10, payload={})
    await jobs.schedule("ping", "b", "acme", at=now + 10, payload={"v": 1})
    assert await jobs.cancel("ping", "a")
    assert await jobs.reschedule("ping", "b", at=now + 100, payload={"v": 2})
    assert not await jobs.cancel("ping", "missing")
    await trio.sleep(50)
    assert await jobs.run_due() == 0
    await trio.sleep(60)
    assert await jobs.run_due() == 1
    assert [k for k, _, _ in runs.all] == ["b"]
    assert not await jobs.cancel("ping", "b")  # done: too late
    assert not await jobs.reschedule("ping", "b", at=now + 500)
    b = await store.read(sql.jobs.get_job, "ping", "b")
    assert b is not None and b.payload == {"v": 2}


async def test_two_schedulers_on_one_database_claim_disjoint_jobs(
    store: SqlStore, store_url: str
) -> None:
    """Two nodes (two stores, two writers) poll the same database at once: every job
    runs exactly once, whichever node takes it."""
    ran: list[tuple[str, str]] = []
    n = 120
    async with open_store(store_url, readers=2) as other:
        a = JobScheduler(store, JobsConfig(concurrency=8), worker="node-a")
        b = JobScheduler(other, JobsConfig(concurrency=8), worker="node-b")
        for node in (a, b):

            async def handler(job: Job, node: JobScheduler = node) -> None:
                ran.append((job.key, node.worker))
                await trio.sleep(0.001)

            node.register("ping", handler)
        past = time.time() - 1
        for i in range(n):
            await a.schedule("ping", f"k{i:03}", "acme", at=past, payload={})
        async with trio.open_nursery() as nursery:
            nursery.start_soon(a.run_due)
            nursery.start_soon(b.run_due)
    keys = sorted(k for k, _ in ran)
    assert keys == [f"k{i:03}" for i in range(n)]  # each exactly once
    counts = await store.read(sql.jobs.count_by_state)
    assert counts == {"done": n}
    if store_url.startswith("postgresql"):  # SKIP LOCKED: both took a share
        assert {w for _, w in ran} == {"node-a", "node-b"}
