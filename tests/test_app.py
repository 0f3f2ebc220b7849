"""Start-up failures are one StartupError line before anything listens; the database is
retried with backoff for a bounded time."""

from __future__ import annotations

import logging
import socket
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import psycopg
import pytest
import trio

from parley.app import (
    StartupError,
    migrate,
    open_store_retrying,
    retryable,
    serve,
    startup_error,
)
from parley.settings import Settings
from parley.store import SqlStore


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port: int = s.getsockname()[1]
        yield port


async def start_failure(settings: Settings, **kw: Any) -> StartupError:
    with pytest.raises(BaseException) as exc:
        async with trio.open_nursery() as nursery:
            await nursery.start(lambda task_status: serve(settings, task_status=task_status, **kw))
    error = startup_error(exc.value)
    assert error is not None, exc.value
    assert "\n" not in str(error)
    return error


async def test_ws_port_in_use(
    settings: Settings, busy_port: int, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    error = await start_failure(replace(settings, ws_port=busy_port), broker_only=True)
    assert str(error) == f"cannot listen on 127.0.0.1:{busy_port} (ws_port): Address already in use"
    assert "listening" not in caplog.text


async def test_http_port_in_use_says_nothing_listens(
    settings: Settings, busy_port: int, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    error = await start_failure(replace(settings, http_port=busy_port))
    assert str(error).startswith(f"cannot listen on 127.0.0.1:{busy_port} (http_port): ")
    assert "listening" not in caplog.text


async def test_bad_migration(settings: Settings) -> None:
    settings.data_dir.mkdir(parents=True)
    with _sqlite(settings.sqlite_path) as db:
        db.execute("CREATE TABLE channels (x INTEGER)")  # migration 1 creates it too
    error = await start_failure(settings)
    assert str(error).startswith("database migration failed on sqlite:///")
    assert "channels already exists" in str(error)
    with pytest.raises(StartupError, match="database migration failed"):
        await migrate(settings)


async def test_unopenable_database(settings: Settings, tmp_path: Path) -> None:
    (tmp_path / "garbage").write_bytes(b"not a database" * 100)
    bad = replace(settings, database_url=f"sqlite:///{tmp_path / 'garbage'}")
    error = await start_failure(bad)
    assert str(error).startswith("cannot open the database sqlite:///")


async def test_data_dir_that_cannot_be_made(settings: Settings, tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    error = await start_failure(replace(settings, jwt_secret="", data_dir=tmp_path / "file" / "d"))
    assert str(error).startswith("cannot keep the JWT secret in ")


def _sqlite(path: Path) -> Any:
    import sqlite3
    from contextlib import closing

    return closing(sqlite3.connect(path, isolation_level=None))


class FlakyOpener:
    """Opens a fake store after ``failures`` refused connections."""

    def __init__(self, failures: int, error: Exception | None = None) -> None:
        self.failures = failures
        self.error = error or psycopg.OperationalError("connection refused")
        self.attempts: list[float] = []

    @asynccontextmanager
    async def __call__(self, url: str) -> AsyncIterator[SqlStore]:
        self.attempts.append(trio.current_time())
        if len(self.attempts) <= self.failures:
            raise self.error
        yield object()  # type: ignore[misc]


async def test_database_retried_with_backoff(autojump_clock: Any) -> None:
    opener = FlakyOpener(failures=3)
    async with AsyncExitStack() as stack:
        await open_store_retrying(stack, "postgresql://h/db", 30.0, opener=opener)
    assert opener.attempts == [0.0, 0.5, 1.5, 3.5]


async def test_database_retries_stop_at_the_deadline(autojump_clock: Any) -> None:
    opener = FlakyOpener(failures=100)
    async with AsyncExitStack() as stack:
        with pytest.raises(StartupError, match=r"postgresql://\*\*\*@h/db unreachable for 10s"):
            await open_store_retrying(stack, "postgresql://u:pw@h/db", 10.0, opener=opener)
    # 0.5 doubling, capped at 5 s, the last attempt at the deadline.
    assert opener.attempts == [0.0, 0.5, 1.5, 3.5, 7.5, 10.0]


async def test_other_database_errors_fail_at_once(autojump_clock: Any) -> None:
    denied = psycopg.errors.InvalidPassword("password authentication failed")
    for error in (ValueError("bad"), denied):
        opener = FlakyOpener(failures=1, error=error)
        async with AsyncExitStack() as stack:
            with pytest.raises(StartupError, match="cannot open the database"):
                await open_store_retrying(stack, "postgresql://h/db", 10.0, opener=opener)
        assert opener.attempts == [0.0]
    assert not retryable(denied)
    assert retryable(psycopg.OperationalError("connection refused"))
