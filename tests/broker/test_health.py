"""The operations endpoints on the broker port: a plain GET before any upgrade is
answered by the server's OpsEndpoints and the connection closed."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from parley.broker.health import http_response, ops_path
from parley.broker.hub import Hub
from parley.broker.server import BrokerServer
from parley.core.ports import HttpReply
from parley.settings import Settings


@pytest.mark.parametrize(
    ("data", "path"),
    [
        (b"GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n", "/readyz"),
        (b"GET /livez?probe=1 HTTP/1.1\r\n\r\n", "/livez"),
        (b"GET /healthz HTTP/1.0\r\n\r\n", "/healthz"),
        (b"GET /metrics HTTP/1.1\r\n\r\n", "/metrics"),
        (b"GET /ws HTTP/1.1\r\nUpgrade: websocket\r\n\r\n", None),
        (b"POST /readyz HTTP/1.1\r\n\r\n", None),
        (b"GET /readyzz HTTP/1.1\r\n\r\n", None),
        (b"GET /readyz\r\n\r\n", None),
    ],
)
def test_ops_path(data: bytes, path: str | None) -> None:
    assert ops_path(data) == path


def test_http_response() -> None:
    data = http_response(HttpReply(503, "application/json", b'{"status":"unready"}'))
    head, body = data.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 503 Service Unavailable\r\n")
    assert b"Content-Length: 20" in head and b"Connection: close" in head
    assert body == b'{"status":"unready"}'


class Endpoints:
    def __init__(self) -> None:
        self.asked: list[str] = []

    async def respond(self, path: str) -> HttpReply | None:
        self.asked.append(path)
        if path == "/metrics":
            return None
        return HttpReply(200, "application/json", b'{"status":"ok"}')

    def request_done(self, route: str, method: str, status: int, seconds: float) -> None:
        raise AssertionError("not a REST request")


async def get(server: BrokerServer, request: bytes) -> bytes:
    client, peer = trio.testing.memory_stream_pair()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(server.handle, peer)
        await client.send_all(request)
        data = b""
        while chunk := await client.receive_some():
            data += chunk
    return data


async def test_broker_port_answers_readyz(settings: Settings) -> None:
    endpoints = Endpoints()
    server = BrokerServer(
        settings.broker, Hub(), settings.token_verifier(), ops_endpoints=endpoints
    )
    data = await get(server, b"GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n")
    assert data.startswith(b"HTTP/1.1 200 OK\r\n") and data.endswith(b'{"status":"ok"}')
    assert endpoints.asked == ["/readyz"]
    assert not server.connections and server.accepted == 0


async def test_without_endpoints_a_plain_get_is_refused(settings: Settings) -> None:
    server = BrokerServer(settings.broker, Hub(), settings.token_verifier())
    data = await get(server, b"GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n")
    assert data.startswith(b"HTTP/1.1 4")  # wsproto's refusal of a non-upgrade request
