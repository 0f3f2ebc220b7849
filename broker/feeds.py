"""In-process subscribers of the hub (:class:`parley.core.ports.LiveFeeds`): the GraphQL
subscriptions ride on the same fan-out as WebSocket clients. A feed is a hub
:class:`Client` with its own bounded :class:`Outbox`, read by a task instead of a socket
writer: the same membership filter, the same frames built once, the same slow-consumer rule
(an overflow closes the feed), and the user's connection count (presence, and entity locks
released when the last one closes) includes it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from parley.broker.client import Client
from parley.broker.frames import text_payloads
from parley.broker.hub import Hub
from parley.broker.outbox import Outbox
from parley.broker.session import new_session_id
from parley.core.claims import Claims
from parley.core.codes import CloseCode
from parley.core.topics import parse_pattern

#: A feed's queue bounds (events, bytes): a reader this far behind is dropped.
FEED_MAX_FRAMES = 1000
FEED_MAX_BYTES = 4 * 1024 * 1024


class HubFeed:
    def __init__(self, hub: Hub, claims: Claims, *, max_frames: int, max_bytes: int) -> None:
        self.hub = hub
        self.outbox = Outbox(max_frames, max_bytes)
        self.client = Client(
            new_session_id(), claims, self.outbox, self._overflowed, self._close_requested
        )
        #: Why the feed closed (None: open, or closed by its reader).
        self.closed_by: CloseCode | None = None
        self._closed = False

    def _overflowed(self) -> None:
        self._stop(CloseCode.SLOW_CONSUMER)

    def _close_requested(self, code: CloseCode, _reason: str) -> None:
        self._stop(code)  # e.g. the account was deleted (SessionControl)

    def _stop(self, code: CloseCode) -> None:
        """Called by the hub mid-fan-out: stop taking frames now (the reader then sees
        None), and leave the hub when the reader closes the feed, not from inside it."""
        if self.closed_by is None:
            self.closed_by = code
        self.outbox.close(discard=True)

    def subscribe(self, pattern: str) -> bool:
        return self.hub.subscribe(self.client, pattern, parse_pattern(pattern))

    def unsubscribe(self, pattern: str) -> bool:
        return self.hub.unsubscribe(self.client, pattern)

    async def settled(self) -> None:
        await self.hub.settled()

    async def receive(self) -> list[dict[str, Any]] | None:
        data = await self.outbox.get()
        if data is None:
            return None
        self.outbox.sent()
        return [orjson.loads(p) for p in text_payloads(data)]

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.hub.detach(self.client)
        self.outbox.close(discard=True)


class HubFeeds:
    """:class:`parley.core.ports.LiveFeeds` over a hub."""

    def __init__(
        self, hub: Hub, *, max_frames: int = FEED_MAX_FRAMES, max_bytes: int = FEED_MAX_BYTES
    ) -> None:
        self.hub = hub
        self.max_frames = max_frames
        self.max_bytes = max_bytes

    async def open_feed(
        self, claims: Claims, channels: Callable[[], Awaitable[set[str]]]
    ) -> HubFeed:
        feed = HubFeed(self.hub, claims, max_frames=self.max_frames, max_bytes=self.max_bytes)
        user = self.hub.attach(feed.client, loading=True)
        if user.pending is not None:
            try:
                snapshot = await channels()
            except BaseException:
                feed.close()
                raise
            self.hub.user_loaded(user, snapshot)
        return feed
