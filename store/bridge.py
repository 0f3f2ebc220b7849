"""The store as the domain sees it: a generic typed bridge to the SQL of each feature.

Every feature's SQL is a blocking function in :mod:`parley.store.sql` that takes a read
connection (:class:`Db`) or the batch's write transaction (:class:`WriteTx`) first.
:meth:`SqlStore.read` runs one on the read pool, :meth:`SqlStore.write` in the next
group-commit batch; mypy checks the arguments against the function's own signature, so
there is no hand-written pass-through per query::

    channel = await store.read(channels.get_channel, org, channel_id)
    result = await store.write(messages.post, draft, authorize=policy)

Every function is tenant-scoped: an id from another org behaves exactly like an id that
does not exist. Writes that append to a channel log take the channel's next ``seq`` in
the same transaction. After each commit the store calls the commit listener,
synchronously and in commit order, with the channel events that commit wrote (in seq
order): that is how events reach the broker in seq order. The listener must not await
or block.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Concatenate, ParamSpec, Protocol, TypeVar

import trio
from outcome import Outcome

from parley.store.db import Db, Migration
from parley.store.errors import StoreUnavailable
from parley.store.groupcommit import CommitListener, GroupCommitWriter
from parley.store.readpool import ReadPool
from parley.store.writetx import WriteTx

log = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")
Item = TypeVar("Item")


class Store(Protocol):
    """Persistence: run the feature SQL of :mod:`parley.store.sql`, migrate, close."""

    def set_commit_listener(self, listener: CommitListener | None) -> None: ...

    async def read(
        self, fn: Callable[Concatenate[Db, P], T], /, *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """Run ``fn(db, *args, **kwargs)`` in one read transaction (one snapshot)."""
        ...

    async def write(
        self, fn: Callable[Concatenate[WriteTx, P], T], /, *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """Run ``fn(tx, *args, **kwargs)`` in the next batch transaction; return its
        result or raise its error (rolled back alone, to its savepoint)."""
        ...

    async def write_bulk(
        self, fn: Callable[[WriteTx, list[Item]], list[Outcome[T]]], item: Item
    ) -> T:
        """As :meth:`write` of ``fn(tx, [item])``'s one outcome, but neighbouring writes of
        the same ``fn`` in a batch run in one call (:meth:`GroupCommitWriter.submit_bulk`);
        ``fn`` must write nothing for an item it answers with an error."""
        ...

    async def migrate(self) -> int:
        """Apply pending schema migrations; return the schema version now in force."""
        ...

    async def aclose(self) -> None: ...


class Outage:
    """Turns a backend's "cannot reach the database" errors into :class:`StoreUnavailable`
    and logs an outage once when it starts and once when it ends, however many requests
    fail meanwhile (not a traceback per request)."""

    def __init__(self, is_unavailable: Callable[[BaseException], bool]) -> None:
        self._is_unavailable = is_unavailable
        self.since: float | None = None

    def failed(self, exc: Exception) -> Exception:
        """What the caller should raise for ``exc``."""
        if not isinstance(exc, StoreUnavailable) and not self._is_unavailable(exc):
            return exc
        if self.since is None:
            self.since = trio.current_time()
            log.warning("store unavailable: %s", exc)
        if isinstance(exc, StoreUnavailable):
            return exc
        return StoreUnavailable(f"database unavailable: {exc}")

    def ok(self) -> None:
        if self.since is not None:
            log.warning("store available again after %.1f s", trio.current_time() - self.since)
            self.since = None


class SqlStore:
    """:class:`Store` over SQLite or PostgreSQL: writes go to the group-commit writer (one
    connection, many writes per transaction), reads to the read pool. A backend only
    supplies connections (:class:`Db`), its migrations and which of its errors mean "the
    database cannot be reached" (:class:`StoreUnavailable`)."""

    def __init__(
        self,
        writer: GroupCommitWriter,
        readers: ReadPool,
        migrations: Sequence[Migration],
        is_unavailable: Callable[[BaseException], bool] = lambda exc: False,
    ) -> None:
        self._writer = writer
        self._readers = readers
        self._migrations = list(migrations)
        self._closed = False
        self.outage = Outage(is_unavailable)

    @property
    def writer(self) -> GroupCommitWriter:
        return self._writer

    @property
    def readers(self) -> ReadPool:
        return self._readers

    @property
    def closed(self) -> bool:
        """Whether :meth:`aclose` has run (writes are refused from then on)."""
        return self._closed

    @property
    def latest_version(self) -> int:
        """The schema version the shipped migrations lead to."""
        return max((m.version for m in self._migrations), default=0)

    async def schema_version(self) -> int:
        """The schema version in force in the database (one read; readiness checks)."""
        return await self.read(_schema_version)

    def set_commit_listener(self, listener: CommitListener | None) -> None:
        self._writer.listener = listener

    async def read(
        self, fn: Callable[Concatenate[Db, P], T], /, *args: P.args, **kwargs: P.kwargs
    ) -> T:
        return await self._watched(self._readers.run(lambda db: fn(db, *args, **kwargs)))

    async def write(
        self, fn: Callable[Concatenate[WriteTx, P], T], /, *args: P.args, **kwargs: P.kwargs
    ) -> T:
        return await self._watched(self._writer.submit(lambda tx: fn(tx, *args, **kwargs)))

    async def write_bulk(
        self, fn: Callable[[WriteTx, list[Item]], list[Outcome[T]]], item: Item
    ) -> T:
        result: T = await self._watched(self._writer.submit_bulk(fn, item))
        return result

    async def _watched(self, call: Awaitable[T]) -> T:
        """``call``'s result; a backend's outage error comes out as StoreUnavailable."""
        try:
            result = await call
        except Exception as exc:
            error = self.outage.failed(exc)
            if error is exc:
                raise
            raise error from exc
        self.outage.ok()
        return result

    async def migrate(self) -> int:
        migrations = self._migrations

        def apply(db: Db) -> int:
            return db.migrate(migrations)

        return await self._writer.exclusive(apply)

    async def aclose(self) -> None:
        """Stop accepting writes; queued writes still run. Read connections are closed
        when the ``open_store`` context exits."""
        if not self._closed:
            self._closed = True
            self._writer.close()


def _schema_version(db: Db) -> int:
    row = db.one("SELECT COALESCE(MAX(version), 0) FROM schema_version")
    return 0 if row is None else int(row[0])


def _conforms(store: SqlStore) -> Store:
    """Never called: mypy checks here that SqlStore implements the Store protocol."""
    return store
