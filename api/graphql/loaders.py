"""DataLoader-style batching for one GraphQL request: every key asked for while a batch is
being gathered is fetched with one call, and each key at most once per request.

Under trio the resolvers of one list run as sibling tasks (:mod:`.trio_exec`): the first
``load`` becomes the dispatcher, yields to the scheduler until no sibling adds another key,
then fetches the whole batch; keys that arrive while a batch is in flight make the next
one. So a page of 50 messages with their authors and reactions costs one profile read and
one set of view reads, not 50 (``tests/api/test_graphql.py`` counts the store reads)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import Generic, TypeVar

import trio

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
I = TypeVar("I")  # noqa: E741  # what a key is fetched from (the key itself, or a record)

#: Scheduler passes the dispatcher waits, at most, for siblings to add their keys.
MAX_GATHER_PASSES = 8


class Loader(Generic[K, I, V]):
    """``fetch(items)`` returns one value per item, in order."""

    def __init__(self, fetch: Callable[[list[I]], Awaitable[Sequence[V]]]) -> None:
        self._fetch = fetch
        self._done: dict[K, V] = {}
        self._failed: dict[K, Exception] = {}
        self._pending: dict[K, I] = {}
        self._ready: dict[K, trio.Event] = {}
        self._dispatching = False
        #: How many fetches ran (for tests and the docs' figures).
        self.batches = 0

    async def load(self, key: K, item: I) -> V:
        if key in self._done:
            return self._done[key]
        if key in self._failed:
            raise self._failed[key]
        if key not in self._ready:
            self._pending[key] = item
            self._ready[key] = trio.Event()
        if not self._dispatching:
            self._dispatching = True
            try:
                await self._dispatch()
            finally:
                self._dispatching = False
        else:
            await self._ready[key].wait()
        if key in self._failed:
            raise self._failed[key]
        return self._done[key]

    async def _dispatch(self) -> None:
        while self._pending:
            for _ in range(MAX_GATHER_PASSES):
                n = len(self._pending)
                await trio.lowlevel.cancel_shielded_checkpoint()
                if len(self._pending) == n:
                    break
            batch, self._pending = self._pending, {}
            self.batches += 1
            try:
                values = await self._fetch(list(batch.values()))
            except Exception as exc:
                for key in batch:
                    self._failed[key] = exc
            else:
                for key, value in zip(batch, values, strict=True):
                    self._done[key] = value
            for key in batch:
                self._ready.pop(key).set()
