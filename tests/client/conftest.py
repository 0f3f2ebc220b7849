"""A real `parley serve` on loopback that a test can restart on the same ports and data
(SQLite file or PostgreSQL schema), for the client SDK and the CLI."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import pytest
import trio

from parley.client import Backoff
from parley.settings import Settings
from tests.support.live import LiveApp, live_app
from tests.support.store import PgSchemas

#: Fast reconnects for tests (the production default starts at 0.5 s).
FAST = Backoff(base=0.05, max_delay=0.5, floor=0.2)


class Server:
    """``parley serve`` in a thread; ``restart()`` stops it (clients see 1001) and starts
    it again on the same ports with the same database."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._cm: contextlib.AbstractContextManager[LiveApp] | None = None
        self.app: LiveApp | None = None

    @property
    def ws_url(self) -> str:
        assert self.app is not None
        return self.app.ws_url

    @property
    def http_url(self) -> str:
        assert self.app is not None
        return self.app.http_url

    async def start(self) -> None:
        cm = live_app(self.settings)
        self.app = await trio.to_thread.run_sync(cm.__enter__)
        self._cm = cm
        running = self.app.running
        assert running.http_port is not None
        # Later starts reuse these ports, so clients reconnect to the same URL.
        self.settings = replace(self.settings, ws_port=running.ws_port, http_port=running.http_port)

    async def stop(self) -> None:
        cm, self._cm = self._cm, None
        if cm is not None:
            await trio.to_thread.run_sync(cm.__exit__, None, None, None)

    async def restart(self, down_for: float = 0.0) -> None:
        await self.stop()
        await trio.sleep(down_for)
        await self.start()


@pytest.fixture(params=["sqlite", "postgres"])
async def server(request: pytest.FixtureRequest, settings: Settings) -> AsyncIterator[Server]:
    if request.param == "postgres":
        schemas: PgSchemas = request.getfixturevalue("pg_schemas")
        settings = replace(settings, database_url=schemas.new())
    srv = Server(settings)
    await srv.start()
    try:
        yield srv
    finally:
        await srv.stop()


@pytest.fixture
async def sqlite_server(settings: Settings) -> AsyncIterator[Server]:
    srv = Server(settings)
    await srv.start()
    try:
        yield srv
    finally:
        await srv.stop()


def texts(events: list[Any]) -> list[str]:
    return [e.data["text"] for e in events]
