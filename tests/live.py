"""A real broker on 127.0.0.1 in a background thread, for third-party clients in tests."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import trio

from broker.auth import TokenVerifier
from broker.hub import Hub
from broker.server import BrokerServer
from parley.config import Settings


@dataclass
class LiveBroker:
    server: BrokerServer
    port: int
    token: trio.lowlevel.TrioToken

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"


@contextmanager
def live_broker(settings: Settings) -> Iterator[LiveBroker]:
    started = threading.Event()
    box: list[LiveBroker] = []
    errors: list[BaseException] = []

    async def main() -> None:
        server = BrokerServer(settings, Hub(), TokenVerifier(settings))
        async with trio.open_nursery() as nursery:
            port = await nursery.start(server.serve)
            box.append(LiveBroker(server, port, trio.lowlevel.current_trio_token()))
            started.set()

    def run() -> None:
        try:
            trio.run(main)
        except BaseException as exc:  # reported to the test thread
            errors.append(exc)
            started.set()

    thread = threading.Thread(target=run, name="live-broker", daemon=True)
    thread.start()
    if not started.wait(10) or errors:
        raise RuntimeError(f"broker did not start: {errors}")
    live = box[0]
    try:
        yield live
    finally:
        with contextlib.suppress(trio.RunFinishedError):
            trio.from_thread.run_sync(live.server.shutdown, trio_token=live.token)
        thread.join(15)
        if thread.is_alive():
            raise RuntimeError("broker did not stop")
        if errors:
            raise errors[0]
