"""A real broker (or the whole app) on 127.0.0.1 in a background thread, for third-party
clients in tests."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from typing import TypeVar

import trio

from parley.app import Running, serve
from parley.broker.config import BrokerConfig
from parley.broker.hub import Hub
from parley.broker.server import BrokerServer
from parley.settings import Settings

T = TypeVar("T")


@contextmanager
def _in_thread(
    start: Callable[[trio.Nursery], Awaitable[T]], stop: Callable[[T], None], name: str
) -> Iterator[tuple[T, trio.lowlevel.TrioToken]]:
    """Run ``start`` in a trio run of its own thread; yield what it returned; on exit call
    ``stop`` in that run and join the thread (its errors are raised here)."""
    started = threading.Event()
    box: list[tuple[T, trio.lowlevel.TrioToken]] = []
    errors: list[BaseException] = []

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            box.append((await start(nursery), trio.lowlevel.current_trio_token()))
            started.set()

    def run() -> None:
        try:
            trio.run(main)
        except BaseException as exc:  # reported to the test thread
            errors.append(exc)
            started.set()

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    if not started.wait(30) or errors:
        raise RuntimeError(f"{name} did not start: {errors}")
    value, token = box[0]
    try:
        yield value, token
    finally:
        with contextlib.suppress(trio.RunFinishedError):
            trio.from_thread.run_sync(stop, value, trio_token=token)
        thread.join(30)
        if thread.is_alive():
            raise RuntimeError(f"{name} did not stop")
        if errors:
            raise errors[0]


@dataclass
class LiveBroker:
    server: BrokerServer
    port: int
    token: trio.lowlevel.TrioToken

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"


@contextmanager
def live_broker(settings: Settings, config: BrokerConfig | None = None) -> Iterator[LiveBroker]:
    """The broker alone (no store, no REST); ``config`` instead of ``settings.broker``."""

    async def start(nursery: trio.Nursery) -> BrokerServer:
        server = BrokerServer(config or settings.broker, Hub(), settings.token_verifier())
        await nursery.start(server.serve)
        return server

    with _in_thread(start, BrokerServer.shutdown, "live-broker") as (server, token):
        assert server.port is not None
        yield LiveBroker(server, server.port, token)


@dataclass
class LiveApp:
    """The whole service (`parley.app.serve`): broker, REST API and store."""

    running: Running
    token: trio.lowlevel.TrioToken

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.running.ws_port}/ws"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.running.http_port}"

    @property
    def broker_http_url(self) -> str:
        """The broker port, for its plain-HTTP operations endpoints (``/readyz``...)."""
        return f"http://127.0.0.1:{self.running.ws_port}"

    def call(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` in the app's trio run (e.g. ``running.shutdown``)."""
        trio.from_thread.run_sync(fn, trio_token=self.token)


@contextmanager
def live_app(settings: Settings, *, broker_only: bool = False) -> Iterator[LiveApp]:
    async def start(nursery: trio.Nursery) -> Running:
        running: Running = await nursery.start(partial(serve, settings, broker_only=broker_only))
        return running

    def stop(running: Running) -> None:
        running.shutdown()
        running.shutdown()  # again: no drain delay in tests

    with _in_thread(start, stop, "live-app") as (running, token):
        yield LiveApp(running, token)
