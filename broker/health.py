"""The operations endpoints on the broker port (sans-IO): a plain ``GET /livez``,
``/healthz``, ``/readyz`` or ``/metrics`` before any WebSocket upgrade is answered with
the :class:`~parley.core.ports.OpsEndpoints` reply and the connection closed, so a
``--broker-only`` node has health checks and metrics too."""

from __future__ import annotations

from http import HTTPStatus

from parley.core.ports import OPS_PATHS, HttpReply

#: The first line of a request must be in the first read (it always is in practice).
MAX_REQUEST_LINE = 1024


def ops_path(data: bytes) -> str | None:
    """The operations path of a ``GET`` request starting ``data``, or None (then the
    bytes are a WebSocket handshake, or not ours)."""
    if not data.startswith(b"GET /"):
        return None
    line = data[:MAX_REQUEST_LINE].split(b"\r\n", 1)[0]
    parts = line.split(b" ")
    if len(parts) != 3:
        return None
    path = parts[1].split(b"?", 1)[0].decode("latin-1")
    return path if path in OPS_PATHS else None


def http_response(reply: HttpReply) -> bytes:
    """The whole HTTP/1.1 response; the connection closes after it."""
    reason = HTTPStatus(reply.status).phrase
    head = (
        f"HTTP/1.1 {reply.status} {reason}\r\n"
        f"Content-Type: {reply.content_type}\r\n"
        f"Content-Length: {len(reply.body)}\r\n"
        "Cache-Control: no-store\r\n"
        "Connection: close\r\n\r\n"
    )
    return head.encode("latin-1") + reply.body
