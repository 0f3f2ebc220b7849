"""One subscription of the application: the events matching its pattern, as an async
iterator (``async for event in client.subscribe(pattern)``)."""

from __future__ import annotations

import math
from types import TracebackType
from typing import TYPE_CHECKING

import trio

from parley.client.events import ChannelEvent, Event
from parley.core.topics import matches, parse_pattern

if TYPE_CHECKING:
    from parley.client.client import Client


class Subscription:
    """Events arrive in the order the server sent them, channel-log events deduplicated
    and in ``seq`` order per channel. The buffer is unbounded: a subscriber that never
    reads grows it (the server closes a connection that stops reading with 4000, and the
    client then resumes). Use ``async with`` to unsubscribe on exit; a plain ``async for``
    subscribes on its first step."""

    def __init__(self, client: Client, pattern: str) -> None:
        self.pattern = pattern
        self.parts = parse_pattern(pattern)
        self._client = client
        self._send, self._recv = trio.open_memory_channel[Event | ChannelEvent](math.inf)
        self._started = False
        self._closed = False
        self._error: BaseException | None = None

    async def start(self) -> None:
        """Subscribe on the server (waits for the reply: a refused pattern raises)."""
        if not self._started:
            self._started = True
            await self._client._attach(self)

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            self._send.close()
            if self._started:
                await self._client._detach(self)

    async def __aenter__(self) -> Subscription:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        with trio.CancelScope(shield=True):
            await self.aclose()

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Event | ChannelEvent:
        await self.start()
        try:
            return await self._recv.receive()
        except (trio.EndOfChannel, trio.ClosedResourceError):
            if self._error is not None:
                raise self._error from None
            raise StopAsyncIteration from None

    # -- called by the client ---------------------------------------------------
    def wants(self, topic: list[str]) -> bool:
        return not self._closed and matches(self.parts, topic)

    def put(self, event: Event | ChannelEvent) -> None:
        if not self._closed:
            self._send.send_nowait(event)

    def fail(self, error: BaseException | None) -> None:
        """End the iteration: with ``error`` raised, or (None) normally."""
        self._error = error
        self._closed = True
        self._send.close()
