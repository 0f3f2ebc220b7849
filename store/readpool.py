"""A few read connections used beside the writer, at most one task per connection."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TypeVar

import trio

from parley.store.db import Db, read_tx
from parley.store.groupcommit import StoreClosed
from parley.store.workers import run_sync_cancellable

T = TypeVar("T")


class ReadPool:
    def __init__(self, dbs: list[Db]) -> None:
        self._all = list(dbs)
        self._free = list(dbs)
        self._limiter = trio.CapacityLimiter(max(1, len(dbs)))
        self._closed = False

    @property
    def size(self) -> int:
        """Read connections in the pool."""
        return len(self._all)

    @property
    def in_use(self) -> int:
        """Read connections running a read now (for metrics)."""
        return len(self._all) - len(self._free)

    async def run(self, fn: Callable[[Db], T]) -> T:
        """Run ``fn`` in a read transaction on a free connection, in a worker thread.
        Cancellable: the running statement is interrupted (see run_sync_cancellable)."""
        async with self._limiter:
            if self._closed:
                raise StoreClosed("store is closed")
            db = self._free.pop()
            try:
                return await run_sync_cancellable(partial(read_tx, db, fn), db.interrupt)
            finally:
                self._free.append(db)

    async def aclose(self) -> None:
        """Close every connection (waits for reads in flight)."""
        if self._closed:
            return
        self._closed = True
        tokens = [object() for _ in self._all]
        with trio.CancelScope(shield=True):
            for token in tokens:
                await self._limiter.acquire_on_behalf_of(token)
            for db in self._all:
                await trio.to_thread.run_sync(db.close)
        for token in tokens:
            self._limiter.release_on_behalf_of(token)
