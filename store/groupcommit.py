"""The group-commit writer: one connection, one task, many writes per transaction.

Callers queue a write request and wait. The writer task takes everything queued (up to
``batch_max``), runs the whole batch in ONE worker-thread hop and ONE transaction, with a
SAVEPOINT per request so that a failing request (e.g. :class:`Conflict`) is rolled back
alone, commits, and then, back in trio, calls the commit listener synchronously with the
batch's channel events (seq order == execution order == commit order) and wakes each
caller with its own result or exception.

Cancellation: a caller cancelled while its request is still queued withdraws it (the
writer skips it). Once the writer has taken the request into a batch, cancelling the
caller only stops the waiting: the write may still commit, and its events still reach the
listener. The writer's own thread hop is never abandoned, so a batch is never cut short.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

import outcome
import trio

from parley.core.records import ChannelEvent
from parley.store.db import Db
from parley.store.errors import StoreError, StoreUnavailable
from parley.store.writetx import WriteTx

T = TypeVar("T")

#: Called after each commit with the channel events it wrote, in seq order (never awaits).
CommitListener = Callable[[Sequence[ChannelEvent]], None]

log = logging.getLogger(__name__)


class StoreClosed(StoreError):
    """The store was closed before the write could run."""


class BatchFailed(StoreUnavailable):
    """The batch transaction failed as a whole (e.g. lost connection); nothing committed.
    The cause is chained."""


#: Runs the items of several neighbouring requests in one call and returns each one's
#: outcome, in order; an ``Error`` outcome must mean that item wrote nothing (so the batch
#: need not be retried for it). Raising fails the call's requests the usual way.
BulkFn = Callable[[WriteTx, list[Any]], list[outcome.Outcome[Any]]]


class _Request(Generic[T]):
    __slots__ = ("abandoned", "bulk", "exclusive", "fn", "task")

    def __init__(
        self,
        fn: Callable[[WriteTx], T],
        *,
        exclusive: bool = False,
        bulk: tuple[BulkFn, Any] | None = None,
    ) -> None:
        self.fn = fn
        self.exclusive = exclusive
        #: (bulk function, item): neighbours with the same function run in one call.
        self.bulk = bulk
        #: The caller, parked until the writer reschedules it with the result; ``None``
        #: once it was woken (or stopped waiting).
        self.task: trio.lowlevel.Task | None = None
        #: The caller stopped waiting before the writer took the request: skip it.
        self.abandoned = False


class GroupCommitWriter:
    """Owns the writer connection. Run :meth:`run` in a nursery; :meth:`close` to stop.

    The queue is a deque; callers and the idle writer park with trio's low-level
    ``wait_task_rescheduled`` and are woken with ``reschedule`` (one scheduler trip per
    request, which matters at tens of thousands of writes per second).
    """

    def __init__(
        self, db: Db, *, batch_max: int = 512, queue_size: int = 4096, gather_ticks: int = 2
    ) -> None:
        self._db = db
        self._batch_max = batch_max
        #: Scheduler passes the writer yields before taking a batch, so that callers that
        #: are already runnable (e.g. connections woken by the same I/O poll) queue their
        #: writes first: fewer, larger batches, each paying one thread hop and one commit.
        self._gather_ticks = gather_ticks
        self._queue_size = queue_size
        self._queue: deque[_Request[Any]] = deque()
        self._idle_writer: trio.lowlevel.Task | None = None
        self._not_full = trio.lowlevel.ParkingLot()
        self._closed = False
        self.listener: CommitListener | None = None
        #: Number of committed batches and requests (for tests and metrics).
        self.batches = 0
        self.requests = 0
        #: Batches that fell back from the optimistic path to one savepoint per request.
        self.retried = 0
        #: Called after each committed batch with its size and the seconds it took in the
        #: writer thread (metrics); must not block or await.
        self.on_batch: Callable[[int, float], None] | None = None

    @property
    def queued(self) -> int:
        """Writes waiting for a batch (for metrics)."""
        return len(self._queue)

    async def submit(self, fn: Callable[[WriteTx], T]) -> T:
        """Run ``fn`` in the next batch transaction; return its result or raise its error."""
        return await self._call(_Request(fn))

    async def submit_bulk(self, fn: BulkFn, item: Any) -> Any:
        """Like :meth:`submit` of ``fn(tx, [item])``'s one outcome, but in the batch's
        optimistic pass neighbouring requests of the same ``fn`` run in one call (their
        reads and inserts in bulk). Each still gets its own result or error."""

        def alone(tx: WriteTx) -> Any:
            return fn(tx, [item])[0].unwrap()

        return await self._call(_Request(alone, bulk=(fn, item)))

    async def exclusive(self, fn: Callable[[Db], T]) -> T:
        """Run ``fn`` alone, outside any batch transaction (migrations)."""
        return await self._call(_Request(lambda tx: fn(tx.db), exclusive=True))

    async def _call(self, request: _Request[T]) -> T:
        while len(self._queue) >= self._queue_size and not self._closed:
            await self._not_full.park()  # back-pressure
        if self._closed:
            await trio.lowlevel.checkpoint()
            raise StoreClosed("store is closed")
        request.task = trio.lowlevel.current_task()
        self._queue.append(request)
        if self._idle_writer is not None:
            trio.lowlevel.reschedule(self._idle_writer)
            self._idle_writer = None

        def abort(_: object) -> trio.lowlevel.Abort:
            request.task = None
            request.abandoned = True  # skipped if the writer has not taken it yet
            return trio.lowlevel.Abort.SUCCEEDED

        result: T = await trio.lowlevel.wait_task_rescheduled(abort)
        return result

    def close(self) -> None:
        """Stop accepting writes; the writer runs what is queued, then returns."""
        self._closed = True
        self._not_full.unpark_all()
        if self._idle_writer is not None:
            trio.lowlevel.reschedule(self._idle_writer)
            self._idle_writer = None

    async def _wait_for_work(self) -> None:
        if self._queue or self._closed:
            await trio.lowlevel.checkpoint()
            return
        self._idle_writer = trio.lowlevel.current_task()

        def abort(_: object) -> trio.lowlevel.Abort:
            self._idle_writer = None
            return trio.lowlevel.Abort.SUCCEEDED

        await trio.lowlevel.wait_task_rescheduled(abort)

    def _take_batch(self) -> list[_Request[Any]]:
        """The first request and those behind it, up to the cap; an exclusive one alone."""
        queue = self._queue
        batch = [queue.popleft()]
        if not batch[0].exclusive:
            while queue and len(batch) < self._batch_max and not queue[0].exclusive:
                batch.append(queue.popleft())
        self._not_full.unpark_all()
        return batch

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        try:
            while True:
                await self._wait_for_work()
                if not self._queue:  # closed, and everything queued has run
                    return
                for _ in range(self._gather_ticks):
                    if len(self._queue) >= self._batch_max:
                        break
                    await trio.lowlevel.cancel_shielded_checkpoint()
                await self._run_batch(self._take_batch())
        finally:
            self._closed = True
            self._fail_queued()
            with trio.CancelScope(shield=True):
                await trio.to_thread.run_sync(self._db.close)

    def _fail_queued(self) -> None:
        while self._queue:
            self._wake(self._queue.popleft(), outcome.Error(StoreClosed("store is closed")))
        self._not_full.unpark_all()

    @staticmethod
    def _wake(request: _Request[Any], result: outcome.Outcome[Any]) -> None:
        if request.task is not None:
            trio.lowlevel.reschedule(request.task, result)
            request.task = None

    async def _run_batch(self, batch: list[_Request[Any]]) -> None:
        todo = [r for r in batch if not r.abandoned]
        if not todo:
            return
        started = time.perf_counter()
        if todo[0].exclusive:
            results, events = await trio.to_thread.run_sync(self._exclusive_in_thread, todo[0])
        else:
            results, events = await trio.to_thread.run_sync(self._batch_in_thread, todo)
        self.batches += 1
        self.requests += len(todo)
        if self.on_batch is not None:
            self.on_batch(len(todo), time.perf_counter() - started)
        if events and self.listener is not None:
            try:
                self.listener(events)
            except Exception:
                log.exception("commit listener failed")
        for request, result in zip(todo, results, strict=True):
            self._wake(request, result)

    def _exclusive_in_thread(
        self, request: _Request[Any]
    ) -> tuple[list[outcome.Outcome[Any]], list[ChannelEvent]]:
        tx = WriteTx(self._db)
        result = outcome.capture(self._run_exclusive, request, tx)
        return [result], []

    def _run_exclusive(self, request: _Request[Any], tx: WriteTx) -> Any:
        self._db.ensure_open()
        return request.fn(tx)

    def _batch_in_thread(
        self, batch: list[_Request[Any]]
    ) -> tuple[list[outcome.Outcome[Any]], list[ChannelEvent]]:
        """Optimistically: the whole batch as one pipelined transaction with no per-request
        savepoint or sync, so PostgreSQL pays one round trip per batch, not per request.
        If any request raises or the commit fails, roll back and run the batch again the
        careful way (a SAVEPOINT and a sync per request), where failures stay isolated."""
        if len(batch) > 1:
            fast = self._optimistic(batch)
            if fast is not None:
                return fast
        return self._careful(batch)

    def _optimistic(
        self, batch: list[_Request[Any]]
    ) -> tuple[list[outcome.Outcome[Any]], list[ChannelEvent]] | None:
        db = self._db
        tx = WriteTx(db)
        try:
            db.ensure_open()
            db.begin(write=True)
            results: list[outcome.Outcome[Any]] = []
            i = 0
            while i < len(batch):
                request = batch[i]
                if request.bulk is None:
                    results.append(outcome.Value(request.fn(tx)))
                    i += 1
                    continue
                fn, j = request.bulk[0], i + 1
                while j < len(batch) and (b := batch[j].bulk) is not None and b[0] is fn:
                    j += 1
                results.extend(fn(tx, [r.bulk[1] for r in batch[i:j] if r.bulk is not None]))
                i = j
            tx.write_heads()
            db.commit()
        except Exception:
            self.retried += 1
            try:
                db.rollback()
            except Exception:
                log.debug("rollback after an optimistic batch failed", exc_info=True)
            return None
        return results, tx.events

    def _careful(
        self, batch: list[_Request[Any]]
    ) -> tuple[list[outcome.Outcome[Any]], list[ChannelEvent]]:
        """One transaction for the batch, one SAVEPOINT per request."""
        db = self._db
        tx = WriteTx(db)
        results: list[outcome.Outcome[Any]] = []
        try:
            db.ensure_open()
            db.begin(write=True)
            for request in batch:
                tx.start_request()
                db.send("SAVEPOINT req")
                try:
                    value = request.fn(tx)
                    db.flush()  # this request's errors surface here, not in the next one
                except Exception as exc:
                    tx.undo_request()
                    db.drop_deferred()
                    db.send("ROLLBACK TO SAVEPOINT req")
                    db.send("RELEASE SAVEPOINT req")
                    results.append(outcome.Error(exc))
                else:
                    db.send("RELEASE SAVEPOINT req")
                    results.append(outcome.Value(value))
            tx.write_heads()
            db.commit()
        except Exception as exc:
            # The transaction itself failed (lost connection, disk full...): nothing of
            # the batch is committed, every request gets the error.
            try:
                db.rollback()
            except Exception:
                log.debug("rollback after a failed batch failed", exc_info=True)
            return [outcome.Error(_batch_failed(exc)) for _ in batch], []
        return results, tx.events


def _batch_failed(cause: Exception) -> BatchFailed:
    error = BatchFailed(f"write transaction failed: {cause!r}")
    error.__cause__ = cause
    return error
