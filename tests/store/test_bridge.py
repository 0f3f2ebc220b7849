"""The typed bridge: a backend's "cannot reach the database" errors become
StoreUnavailable, logged once when the outage starts and once when it ends; every other
error comes out as itself. Both backends."""

from __future__ import annotations

import logging
import sqlite3

import psycopg
import pytest

from parley.core.errors import Unavailable
from parley.store import SqlStore, StoreUnavailable, open_store, sql
from parley.store.db import Db
from parley.store.postgres import is_unavailable as pg_unavailable
from parley.store.sqlite import is_unavailable as sqlite_unavailable


def outage_error(backend: str) -> Exception:
    """What this backend raises when its database is down."""
    if backend == "postgres":
        return psycopg.OperationalError("connection to server at 127.0.0.1 failed")
    return sqlite3.OperationalError("database is locked")


async def test_outages_are_store_unavailable_and_logged_once(
    store: SqlStore, backend: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="parley.store.bridge")
    down = outage_error(backend)

    def fails(db: Db) -> None:
        raise down

    for _ in range(3):
        with pytest.raises(StoreUnavailable) as exc:
            await store.read(fails)
        assert isinstance(exc.value, Unavailable) and exc.value.__cause__ is down
    with pytest.raises(StoreUnavailable):
        await store.write(lambda tx: fails(tx.db))

    # The bridge's lines only (opening the test PostgreSQL logs its durability warning).
    def bridge() -> list[str]:
        return [r.getMessage() for r in caplog.records if r.name == "parley.store.bridge"]

    assert [m.split(":")[0] for m in bridge()] == ["store unavailable"]
    assert await store.read(sql.channels.get_channel, "acme", "ch_x") is None
    assert await store.read(sql.channels.get_channel, "acme", "ch_x") is None
    messages = bridge()
    assert len(messages) == 2 and messages[1].startswith("store available again after")


async def test_other_errors_come_out_as_themselves(store: SqlStore) -> None:
    def bug(db: Db) -> None:
        raise KeyError("a bug")

    def bad_sql(db: Db) -> None:
        db.all("SELECT nope FROM nowhere")

    with pytest.raises(KeyError):
        await store.read(bug)
    with pytest.raises(Exception) as exc:
        await store.read(bad_sql)
    assert not isinstance(exc.value, Unavailable)
    assert store.outage.since is None


def test_classification() -> None:
    assert sqlite_unavailable(sqlite3.OperationalError("database is locked"))
    assert sqlite_unavailable(sqlite3.OperationalError("unable to open database file"))
    assert not sqlite_unavailable(sqlite3.OperationalError("no such table: nowhere"))
    assert not sqlite_unavailable(sqlite3.IntegrityError("UNIQUE constraint failed"))
    assert pg_unavailable(psycopg.OperationalError("server closed the connection"))
    assert pg_unavailable(psycopg.errors.QueryCanceled("statement timeout"))
    assert not pg_unavailable(psycopg.errors.UndefinedTable("relation does not exist"))


async def test_a_stalled_postgresql_statement_times_out(pg_main_url: str) -> None:
    """A statement over the timeout is cancelled by the server: the request fails as an
    outage instead of holding its caller for ever."""
    async with open_store(pg_main_url, readers=1, statement_timeout=0.2) as store:
        with pytest.raises(StoreUnavailable):
            await store.read(lambda db: db.one("SELECT pg_sleep(5)"))
        assert await store.read(lambda db: db.one("SELECT 1")) == (1,)
