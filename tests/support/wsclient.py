"""A minimal WebSocket client on wsproto over any trio stream (memory streams in tests).

It answers pings only when ``auto_pong`` is set, so keepalive tests can play a dead peer.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

import orjson
import trio
from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Ping,
    RejectConnection,
    Request,
    TextMessage,
)


@dataclass
class Closed(Exception):
    code: int
    reason: str


class MemClient:
    def __init__(self, stream: trio.abc.Stream, *, auto_pong: bool = True) -> None:
        self.stream = stream
        self.ws = WSConnection(ConnectionType.CLIENT)
        self.auto_pong = auto_pong
        self.pings = 0
        self._texts: list[str] = []
        self._pending: list[Any] = []

    async def handshake(
        self,
        target: str,
        headers: list[tuple[bytes, bytes]] | None = None,
        *,
        pipelined: bytes = b"",
    ) -> None:
        """Upgrade; ``pipelined`` bytes (raw frames) go in the same write as the request."""
        await self.stream.send_all(
            self.ws.send(Request(host="localhost", target=target, extra_headers=headers or []))
            + pipelined
        )
        while True:
            for event in await self._events():
                if isinstance(event, AcceptConnection):
                    return
                if isinstance(event, RejectConnection):
                    raise Closed(event.status_code, "rejected")

    async def _events(self) -> list[Any]:
        data = await self.stream.receive_some(65536)
        self.ws.receive_data(bytes(data) or None)
        return list(self.ws.events())

    async def recv(self) -> dict[str, Any]:
        """Next JSON message; raises Closed when the server closes."""
        while True:
            while self._pending:
                event = self._pending.pop(0)
                if isinstance(event, TextMessage):
                    self._texts.append(event.data)
                    if event.message_finished:
                        text, self._texts = "".join(self._texts), []
                        obj: dict[str, Any] = orjson.loads(text)
                        return obj
                elif isinstance(event, Ping):
                    self.pings += 1
                    if self.auto_pong:
                        await self.stream.send_all(self.ws.send(event.response()))
                elif isinstance(event, CloseConnection):
                    with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                        await self.stream.send_all(self.ws.send(event.response()))
                    raise Closed(event.code, event.reason or "")
            self._pending = await self._events()
            if not self._pending and self.ws.state.name == "CLOSED":
                raise Closed(1006, "")

    async def expect_close(self) -> Closed:
        while True:
            try:
                await self.recv()
            except Closed as closed:
                return closed

    async def send_json(self, obj: Any) -> None:
        await self.stream.send_all(self.ws.send(TextMessage(orjson.dumps(obj).decode())))

    async def send_text(self, text: str) -> None:
        await self.stream.send_all(self.ws.send(TextMessage(text)))

    async def send_bytes(self, data: bytes) -> None:
        await self.stream.send_all(self.ws.send(BytesMessage(data)))

    async def call(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Send a command and return its reply, skipping pushes."""
        await self.send_json(obj)
        while True:
            msg = await self.recv()
            if msg.get("id") == obj["id"] and "ok" in msg:
                return msg
