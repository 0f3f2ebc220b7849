"""The WebSocket under the client: the TCP (or TLS) stream we own, closing within a bound,
and reading the close code trio-websocket reports."""

from __future__ import annotations

import ssl
from urllib.parse import urlsplit

import trio
import trio_websocket

from parley.core.codes import ABNORMAL_CLOSURE

#: How long a closing connection may take to finish its close handshake.
CLOSE_GRACE = 2.0


async def open_stream(url: str) -> trio.SocketStream | trio.SSLStream[trio.SocketStream]:
    """The TCP (or TLS, for ``wss:``) stream to a ``ws://`` / ``wss://`` URL."""
    parts = urlsplit(url)
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        raise ValueError(f"not a ws:// or wss:// URL: {url!r}")
    secure = parts.scheme == "wss"
    port = parts.port or (443 if secure else 80)
    if secure:
        return await trio.open_ssl_over_tcp_stream(
            parts.hostname, port, ssl_context=ssl.create_default_context(), https_compatible=True
        )
    return await trio.open_tcp_stream(parts.hostname, port)


async def close_within(ws: trio_websocket.WebSocketConnection, code: int) -> None:
    """Close (a no-op if already closed), bounded, even while being cancelled."""
    with trio.move_on_after(CLOSE_GRACE) as scope:
        scope.shield = True
        await ws.aclose(code)


def close_code(exc: trio_websocket.ConnectionClosed) -> int:
    reason = exc.reason
    return int(reason.code) if reason is not None and reason.code else ABNORMAL_CLOSURE


def close_reason(exc: trio_websocket.ConnectionClosed) -> str:
    reason = exc.reason
    return (reason.reason or reason.name or "") if reason is not None else ""
