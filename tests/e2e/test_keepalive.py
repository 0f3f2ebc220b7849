"""HTTP keep-alive after an early error (issue 10, item 4), against the live service: a
request refused before its body was read (413 by size, 400 for a form body, 401 without a
token) leaves its connection either able to answer the next request or closed, never
wedged. See ``api/server.py``, ``KeepAliveSafeConnection``."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import httpx
import pytest

from parley.api import server
from parley.settings import Settings
from tests.conftest import make_token
from tests.support.live import LiveApp, live_app

TIMEOUT = 15.0
MIB = 1024 * 1024


@pytest.fixture
def app(settings: Settings) -> Iterator[LiveApp]:
    with live_app(settings) as live:
        yield live


def auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {make_token('alice')}"}


@pytest.mark.parametrize("size", [2 * MIB, 8 * MIB])
def test_httpx_keep_alive_survives_a_413(app: LiveApp, size: int) -> None:
    with httpx.Client(base_url=app.http_url, headers=auth(), timeout=TIMEOUT) as client:
        for _ in range(5):
            r = client.post(
                "/v1/channels", content=b"x" * size, headers={"Content-Type": "application/json"}
            )
            assert r.status_code == 413
            assert r.json()["error"]["code"] == "payload_too_large"
            after = client.get("/v1/channels")
            assert after.status_code == 200, after.text


def test_httpx_keep_alive_survives_early_400_and_401(app: LiveApp) -> None:
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    with httpx.Client(base_url=app.http_url, timeout=TIMEOUT) as client:
        for size in (100, 64 * 1024, 200 * 1024):
            r = client.post(
                "/v1/channels", content=b"a=1&" * (size // 4), headers={**form, **auth()}
            )
            assert (r.status_code, r.json()["error"]["code"]) == (400, "bad_json")
            assert client.get("/v1/channels", headers=auth()).status_code == 200
            r = client.post("/v1/channels", content=b"{}" + b" " * size, headers=form)
            assert (r.status_code, r.json()["error"]["code"]) == (401, "unauthorized")
            assert client.get("/healthz").json() == {"status": "ok"}


def _request(method: str, path: str, body: bytes = b"", *, length: int | None = None) -> bytes:
    n = len(body) if length is None else length
    return (
        f"{method} {path} HTTP/1.1\r\nHost: parley\r\nAuthorization: Bearer "
        f"{make_token('alice')}\r\nContent-Type: application/json\r\nContent-Length: {n}\r\n\r\n"
    ).encode() + body


def _response(sock: socket.socket, buf: bytearray) -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 response with a Content-Length read off ``sock`` (rest left in ``buf``)."""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed before a response: {bytes(buf)!r}"
        buf += chunk
    head, _, rest = bytes(buf).partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        chunk = sock.recv(65536)
        assert chunk, "connection closed inside a response body"
        rest += chunk
    buf[:] = rest[length:]
    return int(lines[0].split()[1]), headers, rest[:length]


def _closed(sock: socket.socket) -> bool:
    """True when the server closed the connection (EOF or reset), False if it answered."""
    try:
        return sock.recv(65536) == b""
    except ConnectionResetError:
        return True


@pytest.mark.parametrize("size", [300 * 1024, 2 * MIB, 8 * MIB])
def test_raw_socket_next_request_is_answered_or_closed(app: LiveApp, size: int) -> None:
    port = app.running.http_port
    assert port is not None
    for _ in range(5):
        with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
            sock.sendall(_request("POST", "/v1/channels", b"x" * size))
            buf = bytearray()
            status, headers, body = _response(sock, buf)
            assert status == 413 and b"payload_too_large" in body
            try:
                sock.sendall(_request("GET", "/healthz"))
            except (BrokenPipeError, ConnectionResetError):
                assert headers.get("connection") == "close"
                continue
            if headers.get("connection") == "close":
                assert _closed(sock)
            else:
                assert _response(sock, buf)[0] == 200


def test_a_body_too_big_to_drain_is_answered_then_closed(app: LiveApp) -> None:
    port = app.running.http_port
    assert port is not None
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
        # Declared far over the drain bound, and never sent: answered at once, then closed.
        sock.sendall(_request("POST", "/v1/channels", length=server.DRAIN_MAX_BYTES + 1))
        status, headers, body = _response(sock, bytearray())
        assert (status, headers.get("connection")) == (413, "close")
        assert b"payload_too_large" in body
        assert _closed(sock)


def test_a_stalled_body_is_answered_then_closed(
    app: LiveApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(server, "DRAIN_SECONDS", 0.2)
    port = app.running.http_port
    assert port is not None
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
        # 1 MiB declared (over the 256 KiB body limit), 10 bytes sent, then nothing.
        sock.sendall(_request("POST", "/v1/channels", b"x" * 10, length=MIB))
        status, headers, _ = _response(sock, bytearray())
        assert (status, headers.get("connection")) == (413, "close")
        assert _closed(sock)
