"""Parley storage: one :class:`~parley.store.bridge.Store` bridge, SQLite and PostgreSQL backends.

    async with open_store("sqlite:///data/parley.sqlite3") as store:
        await store.migrate()
        ...

See docs/storage.md.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import trio

from parley.store import migrator, postgres, sqlite
from parley.store.bridge import SqlStore, Store
from parley.store.db import Db
from parley.store.errors import StoreUnavailable
from parley.store.groupcommit import BatchFailed, GroupCommitWriter, StoreClosed
from parley.store.postgres import PostgresDb, is_postgres_url
from parley.store.readpool import ReadPool
from parley.store.sqlite import SqliteDb, path_from_url

__all__ = [
    "BatchFailed",
    "SqlStore",
    "Store",
    "StoreClosed",
    "StoreUnavailable",
    "migrate",
    "open_store",
]

DEFAULT_READERS = 4

log = logging.getLogger(__name__)


def _connectors(
    url: str, statement_timeout: float, sqlite_synchronous: str
) -> tuple[str, Callable[[], Db], Callable[[], Db], Callable[[BaseException], bool]]:
    if is_postgres_url(url):

        def connect() -> Db:
            return PostgresDb(url, statement_timeout=statement_timeout)

        return "postgres", connect, connect, postgres.is_unavailable
    path = path_from_url(url)
    return (
        "sqlite",
        lambda: SqliteDb.open_writer(path, synchronous=sqlite_synchronous),
        lambda: SqliteDb.open_reader(path),
        sqlite.is_unavailable,
    )


@asynccontextmanager
async def open_store(
    url: str,
    *,
    readers: int = DEFAULT_READERS,
    auto_migrate: bool = False,
    statement_timeout: float = postgres.STATEMENT_TIMEOUT,
    sqlite_synchronous: str = sqlite.DEFAULT_SYNCHRONOUS,
) -> AsyncIterator[SqlStore]:
    """Open the store at ``url`` (``sqlite:///path``, a plain path, or ``postgresql://…``).

    Runs the group-commit writer in its own nursery; on exit, queued writes finish and
    every connection is closed. With ``auto_migrate`` the schema is migrated first.
    Errors from the body come out as themselves, not wrapped in an ExceptionGroup.
    ``statement_timeout``: seconds a PostgreSQL statement may run before the server
    cancels it (the request then fails with StoreUnavailable). ``sqlite_synchronous``:
    SQLite's ``PRAGMA synchronous`` level (:data:`sqlite.SYNCHRONOUS_LEVELS`).

    What an acknowledged write survives depends on these and on the PostgreSQL server's
    own settings: with ``fsync`` or ``synchronous_commit`` off there, one line says so
    at open (docs/storage.md, Durability).
    """
    dialect, connect_writer, connect_reader, is_unavailable = _connectors(
        url, statement_timeout, sqlite_synchronous
    )
    migrations = migrator.load(dialect)
    # The writer first: for SQLite it creates the file and turns WAL on.
    writer_db = await trio.to_thread.run_sync(connect_writer)
    reader_dbs: list[Db] = []
    try:
        if dialect == "postgres":
            warning = await trio.to_thread.run_sync(postgres.durability_warning, writer_db)
            if warning is not None:
                log.warning("%s", warning)
        for _ in range(max(1, readers)):
            reader_dbs.append(await trio.to_thread.run_sync(connect_reader))
    except BaseException:
        for db in [writer_db, *reader_dbs]:
            db.close()
        raise
    writer = GroupCommitWriter(writer_db)
    pool = ReadPool(reader_dbs)
    store = SqlStore(writer, pool, migrations, is_unavailable)
    unwrapped: BaseException | None = None
    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(writer.run)  # from here on, the writer closes writer_db
            try:
                if auto_migrate:
                    await store.migrate()
                yield store
            finally:
                await store.aclose()
    except BaseExceptionGroup as group:
        if len(group.exceptions) != 1:
            raise
        unwrapped = group.exceptions[0]
    finally:
        await pool.aclose()
    if unwrapped is not None:
        raise unwrapped


async def migrate(url: str) -> int:
    """Apply pending migrations at ``url`` (``parley migrate``); return the version."""
    async with open_store(url, readers=1) as store:
        return await store.migrate()
