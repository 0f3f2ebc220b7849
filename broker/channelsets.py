"""Loading the channel sets of accepted connections' users, many users per store read.

Every accepted connection needs its user's channel set (the hub's delivery filter) before
its ``hello``. One store read per connection costs a thread hop each; under a reconnect
storm that hop, not the query, is what limits the accept rate. :class:`ChannelSetLoader`
batches them like a group commit: a connection queues its user and waits; the loader's
task takes everything queued (up to ``max_batch`` users), reads it in one store read, and
wakes the waiters; what is queued meanwhile goes in the next read. Nothing waits for a
batch to fill: a lone connection is read at once.

Correctness is the hub's as before (:class:`~broker.client.UserState`): a connection
queues its user only after attaching to the hub, so every membership change committed
after the read started reaches the user's ``pending`` list and is replayed over the
snapshot. A queued user joins only a read that has not started (never one in flight, which
may predate the attach), and nothing is kept after the read: no cache can go stale.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence

import trio

from parley.core.errors import Unavailable

log = logging.getLogger("parley.broker")

#: (org, user id)
UserKey = tuple[str, str]
#: One store read: the channel set of every user asked (an empty set for none).
FetchSets = Callable[[Sequence[UserKey]], Awaitable[dict[UserKey, set[str]]]]

#: Most users per store read (the store splits its ``IN`` lists further).
MAX_BATCH = 1000


class _Waiter:
    __slots__ = ("done", "error", "result")

    def __init__(self) -> None:
        self.done = trio.Event()
        self.result: set[str] = set()
        self.error: BaseException | None = None


class ChannelSetLoader:
    """Run :meth:`run` in a task; then :meth:`load` batches. Without the task running
    (``running`` False) callers load one user at a time themselves."""

    def __init__(self, fetch: FetchSets, *, max_batch: int = MAX_BATCH) -> None:
        self._fetch = fetch
        self._max_batch = max_batch
        self._queue: dict[UserKey, _Waiter] = {}
        self._wake: trio.Event | None = None
        self.running = False
        #: Store reads made, and users loaded by them (tests and metrics).
        self.reads = 0
        self.users = 0

    async def load(self, org: str, user_id: str) -> set[str]:
        """The user's channel set, read after this call started. Raises what the read
        raised (:class:`Unavailable` in an outage). Two connections of one user queued
        together share one read."""
        key = (org, user_id)
        waiter = self._queue.get(key)
        if waiter is None:
            waiter = self._queue[key] = _Waiter()
            if self._wake is not None:
                self._wake.set()
        await waiter.done.wait()
        if waiter.error is not None:
            raise waiter.error
        return waiter.result

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Read what is queued, batch after batch, until cancelled."""
        batch: dict[UserKey, _Waiter] = {}
        self.running = True
        task_status.started()
        try:
            while True:
                while not self._queue:
                    self._wake = trio.Event()
                    await self._wake.wait()
                self._wake = None
                batch = self._take()
                try:
                    sets = await self._fetch(list(batch))
                except Exception as exc:
                    if not isinstance(exc, Unavailable):  # an outage is logged by the store
                        log.exception("loading %d users' channel sets failed", len(batch))
                    for waiter in batch.values():
                        waiter.error = exc
                        waiter.done.set()
                else:
                    self.reads += 1
                    self.users += len(batch)
                    for key, waiter in batch.items():
                        waiter.result = sets.get(key, set())
                        waiter.done.set()
                batch = {}
        finally:
            self.running = False
            stopped = Unavailable("server shutting down")
            for waiter in (*batch.values(), *self._queue.values()):
                if not waiter.done.is_set():
                    waiter.error = stopped
                    waiter.done.set()
            self._queue.clear()

    def _take(self) -> dict[UserKey, _Waiter]:
        queue = self._queue
        if len(queue) <= self._max_batch:
            self._queue = {}
            return queue
        keys = list(queue)[: self._max_batch]
        return {k: queue.pop(k) for k in keys}
