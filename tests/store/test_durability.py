"""What an acknowledged write survives (docs/storage.md, Durability): SQLite's synchronous
level is configurable; a PostgreSQL server running with ``fsync`` or ``synchronous_commit``
off is named in one warning line at open (the throwaway test server runs both off)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, cast

import pytest

from parley.settings import SettingsError, load_settings
from parley.store import open_store, postgres
from parley.store.db import Db
from parley.store.sqlite import SqliteDb


@pytest.mark.parametrize("level", ["off", "normal", "full", "extra"])
def test_sqlite_writer_runs_the_configured_synchronous_level(tmp_path: Path, level: str) -> None:
    db = SqliteDb.open_writer(tmp_path / "s.sqlite3", synchronous=level)
    try:
        assert db.synchronous() == level
        assert db.one("PRAGMA journal_mode") == ("wal",)
    finally:
        db.close()


def test_sqlite_synchronous_defaults_to_normal_and_refuses_others(tmp_path: Path) -> None:
    db = SqliteDb.open_writer(tmp_path / "s.sqlite3")
    try:
        assert db.synchronous() == "normal"
    finally:
        db.close()
    with pytest.raises(ValueError, match="synchronous"):
        SqliteDb.open_writer(tmp_path / "t.sqlite3", synchronous="sometimes")


def test_the_setting_reaches_the_store_settings() -> None:
    assert load_settings({}).sqlite_synchronous == "normal"
    assert load_settings({"PARLEY_SQLITE_SYNCHRONOUS": "FULL"}).sqlite_synchronous == "full"
    with pytest.raises(SettingsError, match="sqlite_synchronous"):
        load_settings({"PARLEY_SQLITE_SYNCHRONOUS": "always"})


async def test_open_store_applies_the_level(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'o.sqlite3'}"
    async with open_store(url, sqlite_synchronous="full") as store:
        level = await store.writer.exclusive(lambda db: db.one("PRAGMA synchronous"))
    assert level == (2,)  # FULL


class FakeDb:
    def __init__(self, **values: str) -> None:
        self.values = values

    def one(self, sql: str, params: Any = ()) -> tuple[Any, ...] | None:
        return (self.values[sql.removeprefix("SHOW ")],)


def warning(**values: str) -> str | None:
    return postgres.durability_warning(cast(Db, FakeDb(**values)))


def test_durability_warning_names_what_is_off() -> None:
    assert warning(fsync="on", synchronous_commit="on") is None
    assert warning(fsync="on", synchronous_commit="local") is None
    line = warning(fsync="on", synchronous_commit="off")
    assert line is not None and "synchronous_commit=off" in line and "fsync" not in line


async def test_postgres_without_fsync_is_warned_about_once(
    pg_main_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="parley.store")
    async with open_store(pg_main_url, readers=2):
        pass
    lines = [r.getMessage() for r in caplog.records if "PostgreSQL runs with" in r.getMessage()]
    assert len(lines) == 1, lines
    assert "fsync=off" in lines[0] and "synchronous_commit=off" in lines[0]
    assert "\n" not in lines[0]
