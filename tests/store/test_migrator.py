"""Migrations and the ``open_store`` / ``migrate`` entry points, both backends."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from parley.core.records import ChannelKind
from parley.store import migrate, migrator, open_store, sql
from parley.store.errors import NotFound
from parley.store.sqlite import path_from_url
from tests.support.store import post_message

TABLES = {"channels", "members", "messages", "channel_events", "profiles", "schema_version"}


def test_migrations_are_numbered_and_present_for_both_dialects() -> None:
    for dialect in ("sqlite", "postgres"):
        found = migrator.load(dialect)
        assert [m.version for m in found] == list(range(1, len(found) + 1))
        assert found[0].name == "init" and "CREATE TABLE channels" in found[0].sql
    assert len(migrator.load("sqlite")) == len(migrator.load("postgres"))


async def test_migrate_is_idempotent(fresh_url: Callable[[], str]) -> None:
    url = fresh_url()
    latest = len(migrator.load("sqlite"))
    assert await migrate(url) == latest
    assert await migrate(url) == latest
    async with open_store(url) as store:
        assert await store.migrate() == latest
        recorded = await store._readers.run(
            lambda db: db.all("SELECT version, name FROM schema_version ORDER BY version")
        )
        assert recorded == [(m.version, m.name) for m in migrator.load("sqlite")]
        # The schema works.
        ch, _ = await store.write(
            sql.channels.create_channel,
            org="o",
            kind=ChannelKind.GROUP,
            name="n",
            topic="",
            created_by="u",
            members=[],
        )
        assert (await post_message(store, "o", ch.id, author="u", text="t")).message.seq == 2


async def test_auto_migrate_on_open(fresh_url: Callable[[], str]) -> None:
    async with open_store(fresh_url(), auto_migrate=True) as store:
        assert await store.read(sql.channels.get_channel, "o", "ch_x") is None


async def test_body_errors_come_out_unwrapped(fresh_url: Callable[[], str]) -> None:
    with pytest.raises(NotFound):
        async with open_store(fresh_url(), auto_migrate=True) as store:
            await post_message(store, "o", "ch_missing", author="u", text="t")
    with pytest.raises(KeyError):
        async with open_store(fresh_url()):
            raise KeyError("mine")


def test_sqlite_urls(tmp_path: Path) -> None:
    assert path_from_url("sqlite:///data/x.db") == Path("data/x.db")
    assert path_from_url("sqlite:////var/lib/x.db") == Path("/var/lib/x.db")
    assert path_from_url(str(tmp_path / "x.db")) == tmp_path / "x.db"
    for bad in ("sqlite://", "sqlite:///:memory:", "sqlite:x.db", ""):
        with pytest.raises(ValueError):
            path_from_url(bad)


async def test_sqlite_file_is_wal(tmp_path: Path) -> None:
    async with open_store(str(tmp_path / "w.db"), auto_migrate=True) as store:
        mode = await store.writer.exclusive(lambda db: db.one("PRAGMA journal_mode"))
        sync = await store.writer.exclusive(lambda db: db.one("PRAGMA synchronous"))
    assert mode == ("wal",)
    assert sync == (1,)  # NORMAL
