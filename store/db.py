"""The synchronous database handle the shared SQL code runs on.

One implementation per backend (:mod:`store.sqlite`, :mod:`store.postgres`) wraps one
DB-API connection. Every method is blocking and runs in a worker thread; only
:meth:`Db.interrupt` may be called from another thread. SQL uses ``?`` placeholders and
the common subset of SQLite and PostgreSQL (``RETURNING``, ``ON CONFLICT``, ``FALSE``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from parley.store.errors import StoreError

T = TypeVar("T")

Params = Sequence[Any]


class Db(Protocol):
    #: Appended to a ``SELECT`` that must lock the rows it reads until commit
    #: (``" FOR UPDATE"`` on PostgreSQL; SQLite has one writer, so ``""``).
    for_update: str

    def one(self, sql: str, params: Params = ()) -> tuple[Any, ...] | None: ...

    def all(self, sql: str, params: Params = ()) -> list[tuple[Any, ...]]: ...

    def run(self, sql: str, params: Params = ()) -> int:
        """Execute a statement that returns no rows; return the number of rows changed."""
        ...

    def send(self, sql: str, params: Params = ()) -> None:
        """Execute a statement whose result is not needed. In a PostgreSQL write batch it
        is pipelined: its errors may only surface at the next :meth:`flush` or fetch."""
        ...

    def defer(self, sql: str, params: Params = ()) -> None:
        """Like :meth:`send`, for an ``INSERT`` of new rows that only has to happen before
        the next read, ``run``, ``flush`` or commit. Both backends buffer these and send
        each statement's rows with one ``executemany`` (the driver's per-statement cost is
        most of a post); the buffered groups go out in the order they were first used. A
        constraint error of a deferred row surfaces at that next statement."""
        ...

    def flush(self) -> None:
        """Wait until every statement sent so far has run; raise the first error."""
        ...

    def drop_deferred(self) -> None:
        """Forget the :meth:`defer` rows not yet sent (their request is being rolled back
        to its savepoint: inserting them first could only fail the rollback)."""
        ...

    def begin(self, *, write: bool) -> None: ...

    def commit(self) -> None: ...

    def rollback(self) -> None: ...

    def ensure_open(self) -> None:
        """Reconnect if the connection is broken (or was interrupted mid-query)."""
        ...

    def interrupt(self) -> None:
        """Abort the statement running in another thread and refuse the next ones with
        :class:`Interrupted` until :meth:`ensure_open` (thread-safe, may block briefly)."""
        ...

    def migrate(self, migrations: Sequence[Migration]) -> int:
        """Apply the migrations not yet recorded, each in its own transaction."""
        ...

    def close(self) -> None: ...


class Interrupted(StoreError):
    """The call was interrupted because its caller was cancelled."""


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str


def read_tx(db: Db, fn: Callable[[Db], T]) -> T:
    """Run ``fn`` in a read transaction (one snapshot for all its queries)."""
    db.ensure_open()
    db.begin(write=False)
    try:
        result = fn(db)
    except BaseException:
        db.rollback()
        raise
    db.commit()
    return result
