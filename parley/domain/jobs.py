"""The job scheduler: persisted jobs (``store/sql/jobs.py``), a handler per kind, and one
trio task per node that polls for due jobs, claims them with a lease and runs them
(docs/automation.md).

Guarantee: **at least once** per job, made **exactly once in effect** by the handlers. A
job is claimed atomically (one node, one attempt); a node that dies after the claim and
before the job is marked done leaves it ``running`` until its lease expires, and then
another poll claims it again. A handler therefore must be idempotent, keyed on its job
(every handler here is: a scheduled message posts with an idempotency key derived from
its id, a reminder fires only while its row is still ``pending``, a webhook delivery is
marked delivered once and carries a stable ``Parley-Delivery`` id receivers dedupe on).

Time comes from one injectable wall clock (``clock()``: seconds since the epoch) and
sleeps are trio sleeps, so tests tie the clock to ``trio.current_time()`` and run on
``autojump_clock``.
"""

from __future__ import annotations

import logging
import math
import secrets
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import trio

from parley.store import Store, sql
from parley.store.sql.jobs import Job

log = logging.getLogger("parley.jobs")

Handler = Callable[[Job], Awaitable[None]]
Clock = Callable[[], float]


class Retry(Exception):
    """A handler's "not now": run the job again later (after ``delay`` seconds, else the
    kind's backoff), counting the attempt."""

    def __init__(self, reason: str, *, delay: float | None = None) -> None:
        super().__init__(reason)
        self.delay = delay


class GiveUp(Exception):
    """A handler's "never": the job fails for good at once (no retry)."""


@dataclass(frozen=True, slots=True)
class JobsConfig:
    #: Longest sleep between two looks at the table (seconds): how late a job scheduled by
    #: another node can start here (``PARLEY_JOBS_POLL_INTERVAL``).
    poll_interval: float = 1.0
    #: How long a claim holds (seconds); a job not finished by then may run again on
    #: another node. Handlers are cancelled a little before it (``PARLEY_JOBS_LEASE``).
    lease: float = 60.0
    #: Jobs running at once on this node.
    concurrency: int = 16
    #: Finished jobs are deleted after this long (seconds; one day).
    keep_finished: float = 86400.0


@dataclass(frozen=True, slots=True)
class JobKind:
    handler: Handler
    max_attempts: int
    #: First retry delay (seconds), doubled per attempt up to ``backoff_max``.
    backoff_first: float
    backoff_max: float

    def retry_delay(self, attempts: int) -> float:
        return min(self.backoff_first * float(2 ** max(0, attempts - 1)), self.backoff_max)


def _us(seconds: float) -> int:
    return int(seconds * 1_000_000)


class JobScheduler:
    """Schedule jobs, register handlers (``register(kind, handler)``), and :meth:`run`
    the poller (one task per node)."""

    def __init__(
        self,
        store: Store,
        config: JobsConfig | None = None,
        *,
        clock: Clock = time.time,
        worker: str | None = None,
    ) -> None:
        self.store = store
        self.config = config or JobsConfig()
        self.clock = clock
        #: Names this node's claims (host, pid and a random part: unique per process).
        self.worker = worker or f"{socket.gethostname()}:{secrets.token_hex(4)}"
        self._kinds: dict[str, JobKind] = {}
        self._wake = trio.Event()
        self._sleeping_until = math.inf
        self._running = 0
        self._last_purge = -math.inf
        #: Counters (metrics, tests).
        self.ran = 0
        self.failed = 0
        self.retried = 0
        self.lost = 0

    # -- the registry --------------------------------------------------------------------

    def register(
        self,
        kind: str,
        handler: Handler,
        *,
        max_attempts: int = 5,
        backoff_first: float = 2.0,
        backoff_max: float = 3600.0,
    ) -> None:
        """Run ``handler(job)`` for jobs of ``kind`` (one handler per kind)."""
        if kind in self._kinds:
            raise ValueError(f"a handler for job kind {kind!r} is already registered")
        self._kinds[kind] = JobKind(handler, max_attempts, backoff_first, backoff_max)

    def max_attempts(self, kind: str) -> int:
        return self._kinds[kind].max_attempts

    # -- scheduling ----------------------------------------------------------------------

    def now_us(self) -> int:
        return _us(self.clock())

    async def schedule(
        self, kind: str, key: str, org: str, *, at: float, payload: dict[str, Any]
    ) -> tuple[Job, bool]:
        """Schedule ``(kind, key)`` at wall time ``at``; an existing key is returned as it
        is (idempotent). Returns the job and whether it is new."""
        job, new = await self.store.write(
            sql.jobs.schedule,
            kind,
            key,
            org,
            run_at_us=_us(at),
            payload=payload,
            now_us=self.now_us(),
        )
        self.wake(at)
        return job, new

    async def reschedule(
        self, kind: str, key: str, *, at: float, payload: dict[str, Any] | None = None
    ) -> bool:
        done = await self.store.write(
            sql.jobs.reschedule, kind, key, run_at_us=_us(at), payload=payload, now_us=self.now_us()
        )
        self.wake(at)
        return done

    async def cancel(self, kind: str, key: str) -> bool:
        return await self.store.write(sql.jobs.cancel, kind, key, now_us=self.now_us())

    def wake(self, at: float) -> None:
        """A job is due at ``at``: if the poller sleeps past it, wake it now (jobs written
        inside another feature's transaction call this after their commit)."""
        if at < self._sleeping_until:
            self._wake.set()

    # -- the poller ----------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Poll for due jobs and run them, until cancelled. A database outage is logged and
        waited out (the next poll tries again)."""
        async with trio.open_nursery() as nursery:
            task_status.started()
            while True:
                # A new event before the poll reads: a job scheduled while it reads wakes
                # the sleep that follows.
                self._wake = trio.Event()
                try:
                    delay = await self.poll(nursery)
                except Exception as exc:
                    log.warning("job poll failed: %s", exc)
                    delay = self.config.poll_interval
                await self._sleep(delay)

    async def _sleep(self, delay: float) -> None:
        if delay <= 0:
            await trio.lowlevel.checkpoint()
            return
        self._sleeping_until = self.clock() + delay
        with trio.move_on_after(delay):
            await self._wake.wait()
        self._sleeping_until = math.inf

    async def poll(self, nursery: trio.Nursery) -> float:
        """Claim what is due (as many as free slots) and start it in ``nursery``; return
        how long to sleep before the next poll."""
        now = self.clock()
        await self._purge(now)
        free = self.config.concurrency - self._running
        if free <= 0:
            return self.config.poll_interval
        due_us = await self.store.read(sql.jobs.next_due_us)
        if due_us is None or due_us > _us(now):
            wait = self.config.poll_interval
            if due_us is not None:
                wait = min(wait, due_us / 1_000_000 - now)
            return max(wait, 0.0)
        jobs = await self.store.write(
            sql.jobs.claim,
            self.worker,
            now_us=_us(now),
            lease_us=_us(self.config.lease),
            limit=free,
        )
        for job in jobs:
            self._running += 1
            nursery.start_soon(self._run_job, job)
        # Claimed some: look again at once (more may be due). None although some were
        # due: another node holds them; its lease or the poll interval decides.
        return 0.0 if jobs else self.config.poll_interval

    async def run_due(self) -> int:
        """Claim and run every job due now, to completion (tests, and a one-shot drain)."""
        ran = 0
        while True:
            async with trio.open_nursery() as nursery:
                before = self._running
                await self.poll(nursery)
                started = self._running - before
            if started == 0:
                return ran
            ran += started

    async def _purge(self, now: float) -> None:
        if now - self._last_purge < 3600:
            return
        self._last_purge = now
        gone = await self.store.write(
            sql.jobs.purge_finished, before_us=_us(now - self.config.keep_finished)
        )
        if gone:
            log.info("purged %d finished jobs", gone)

    async def _run_job(self, job: Job) -> None:
        try:
            await self._attempt(job)
        except Exception as exc:  # settling failed (database outage): the lease decides
            log.warning("job %s (%s) not settled: %s", job.id, job.kind, exc)
        finally:
            self._running -= 1
            self._wake.set()  # a slot is free again

    async def _attempt(self, job: Job) -> None:
        kind = self._kinds.get(job.kind)
        error: str
        retry: float | None = None
        if kind is None:
            error, retry = f"no handler for job kind {job.kind!r} on this node", 60.0
        else:
            try:
                with trio.fail_after(self.config.lease * 0.9):
                    await kind.handler(job)
            except GiveUp as exc:
                error = str(exc) or "gave up"
            except Retry as exc:
                error = str(exc) or "retry"
                retry = exc.delay if exc.delay is not None else kind.retry_delay(job.attempts)
            except trio.TooSlowError:
                error, retry = "timed out", kind.retry_delay(job.attempts)
            except Exception as exc:
                log.exception("job %s (%s) failed", job.id, job.kind)
                error = f"{type(exc).__name__}: {exc}"
                retry = kind.retry_delay(job.attempts)
            else:
                await self._settle(sql.jobs.finish, job)
                self.ran += 1
                return
            if job.attempts >= kind.max_attempts:
                retry = None
        retry_at = None if retry is None else self.now_us() + _us(retry)
        if retry_at is None:
            self.failed += 1
            log.warning("job %s (%s) failed for good: %s", job.id, job.kind, error)
        else:
            self.retried += 1
        await self._settle(sql.jobs.fail, job, error, retry_at_us=retry_at)
        if retry is not None:
            self.wake(self.clock() + retry)

    async def _settle(self, fn: Callable[..., bool], job: Job, *args: Any, **kwargs: Any) -> None:
        ok = await self.store.write(fn, job, *args, now_us=self.now_us(), **kwargs)
        if not ok:  # our lease expired and another node took the job over
            self.lost += 1
            log.warning("job %s (%s): claim lost before it was settled", job.id, job.kind)
