"""The two :class:`parley.core.ports.BrokerBackend` implementations.

:class:`MemoryBackend` is one node: nothing leaves the process, and the hub's local
fan-out is the whole path (today's behaviour, the default). :class:`NatsBackend` carries
events between nodes over NATS (:mod:`broker.natsclient`), with interest ref-counted per
subject: the bus subscription is made for the first local holder and left after the last,
so an event crosses once per interested node, never once per subscriber.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import trio

from parley.broker.natsclient import NatsClient, NatsOptions

#: Seconds a subscribe waits at most for the bus to confirm its subscriptions.
SETTLE_TIMEOUT = 1.0


class MemoryBackend:
    clustered = False

    def start(self, receive: Callable[[str, bytes], None], on_connect: Callable[[], None]) -> None:
        pass

    def publish(self, subject: str, payload: bytes) -> None:
        pass

    def subscribe(self, subject: str) -> bool:
        return False

    def unsubscribe(self, subject: str) -> bool:
        return False

    async def run(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()

    async def settled(self) -> None:
        pass

    async def check(self) -> str:
        return "not configured"


class NatsBackend:
    clustered = True

    def __init__(self, options: NatsOptions) -> None:
        self.options = options
        self._receive: Callable[[str, bytes], None] = _nowhere
        self._on_connect: Callable[[], None] = _nothing
        self.client = NatsClient(options, self._deliver, on_connect=self._connected)
        #: subject -> (sid, holders)
        self._interest: dict[str, tuple[int, int]] = {}

    def start(self, receive: Callable[[str, bytes], None], on_connect: Callable[[], None]) -> None:
        self._receive = receive
        self._on_connect = on_connect

    def _deliver(self, subject: str, payload: bytes) -> None:
        self._receive(subject, payload)

    def _connected(self) -> None:
        self._on_connect()

    def publish(self, subject: str, payload: bytes) -> None:
        self.client.publish(subject, payload)

    def subscribe(self, subject: str) -> bool:
        held = self._interest.get(subject)
        if held is not None:
            self._interest[subject] = (held[0], held[1] + 1)
            return False
        self._interest[subject] = (self.client.subscribe(subject), 1)
        return True

    def unsubscribe(self, subject: str) -> bool:
        held = self._interest.get(subject)
        if held is None:
            return False
        sid, n = held
        if n > 1:
            self._interest[subject] = (sid, n - 1)
            return False
        del self._interest[subject]
        self.client.unsubscribe(sid)
        return True

    @property
    def subjects(self) -> int:
        return len(self._interest)

    def holders(self, subject: str) -> int:
        held = self._interest.get(subject)
        return 0 if held is None else held[1]

    async def run(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        await self.client.run(task_status=task_status)

    async def settled(self) -> None:
        with trio.move_on_after(SETTLE_TIMEOUT):
            await self.client.flush()

    async def check(self) -> str:
        if not self.client.connected:
            return f"disconnected: {self.client.last_error}"
        with trio.move_on_after(1.0):
            if await self.client.flush():
                return "ok"
        return "no answer from the bus"


def _nowhere(subject: str, payload: bytes) -> None:
    pass


def _nothing() -> None:
    pass
