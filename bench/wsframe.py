"""Minimal sans-IO WebSocket pieces shared by the load generator and the raw-ceiling server.

Bytes in, frames out; no sockets, no clock. Only what the bench needs: the RFC 6455 opening
handshake (client request, server response), frame encoding, and a frame splitter that also
unmasks client frames. No extensions (no compression is ever negotiated: the bench client
does not offer it). Client frames use the all-zero masking key, which RFC 6455 permits and
which makes masking the identity; every server under test accepts it.
"""

from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

OP_CONT = 0x0
OP_TEXT = 0x1
OP_BINARY = 0x2
OP_CLOSE = 0x8
OP_PING = 0x9
OP_PONG = 0xA

ZERO_MASK = b"\x00\x00\x00\x00"


class HandshakeError(Exception):
    """The peer's opening handshake was refused or malformed."""


def accept_key(key: bytes) -> bytes:
    return base64.b64encode(hashlib.sha1(key + GUID).digest())


def client_request(
    host: str, port: int, path: str, headers: dict[str, str] | None = None
) -> tuple[bytes, bytes]:
    """Return (request bytes, expected Sec-WebSocket-Accept)."""
    key = base64.b64encode(os.urandom(16))
    lines = [
        f"GET {path} HTTP/1.1",
        f"Host: {host}:{port}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key.decode()}",
        "Sec-WebSocket-Version: 13",
    ]
    for name, value in (headers or {}).items():
        lines.append(f"{name}: {value}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode(), accept_key(key)


def check_response(head: bytes, expected_accept: bytes) -> None:
    """Validate a server's handshake response head (up to and excluding the blank line)."""
    status, _, rest = head.partition(b"\r\n")
    parts = status.split(b" ", 2)
    if len(parts) < 2 or parts[1] != b"101":
        raise HandshakeError(status.decode("latin-1"))
    for line in rest.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"sec-websocket-accept":
            if value.strip() != expected_accept:
                raise HandshakeError("bad Sec-WebSocket-Accept")
            return
    raise HandshakeError("no Sec-WebSocket-Accept")


@dataclass(frozen=True, slots=True)
class Request:
    path: str
    headers: dict[str, str]


def parse_request(head: bytes) -> Request:
    """Parse a client's handshake request head (up to and excluding the blank line)."""
    line, _, rest = head.partition(b"\r\n")
    parts = line.split(b" ")
    if len(parts) != 3 or parts[0] != b"GET":
        raise HandshakeError("not a GET request")
    headers: dict[str, str] = {}
    for raw in rest.split(b"\r\n"):
        name, sep, value = raw.partition(b":")
        if sep:
            headers[name.strip().lower().decode("latin-1")] = value.strip().decode("latin-1")
    if headers.get("upgrade", "").lower() != "websocket" or "sec-websocket-key" not in headers:
        raise HandshakeError("not a WebSocket upgrade")
    return Request(path=parts[1].decode("latin-1"), headers=headers)


def server_response(req: Request) -> bytes:
    key = req.headers["sec-websocket-key"].encode("latin-1")
    return (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: " + accept_key(key) + b"\r\n\r\n"
    )


def encode_frame(opcode: int, payload: bytes, *, mask: bool = False) -> bytes:
    """One final frame. ``mask=True`` (client side) uses the all-zero key."""
    n = len(payload)
    b0 = 0x80 | opcode
    mbit = 0x80 if mask else 0
    if n < 126:
        head = bytes((b0, mbit | n))
    elif n < 65536:
        head = bytes((b0, mbit | 126)) + n.to_bytes(2, "big")
    else:
        head = bytes((b0, mbit | 127)) + n.to_bytes(8, "big")
    if mask:
        return head + ZERO_MASK + payload
    return head + payload


def unmask(payload: bytes, key: bytes) -> bytes:
    if key == ZERO_MASK or not payload:
        return payload
    n = len(payload)
    k = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "little") ^ int.from_bytes(k, "little")).to_bytes(n, "little")


class FrameSplitter:
    """Split a byte stream into (opcode, fin, payload) frames, unmasking as needed."""

    __slots__ = ("_buf",)

    def __init__(self) -> None:
        self._buf = b""

    def feed(self, data: bytes) -> list[tuple[int, bool, bytes]]:
        buf = self._buf + data if self._buf else data
        out: list[tuple[int, bool, bytes]] = []
        i = 0
        n = len(buf)
        while n - i >= 2:
            b0 = buf[i]
            b1 = buf[i + 1]
            ln = b1 & 0x7F
            h = i + 2
            if ln == 126:
                if n - i < 4:
                    break
                ln = (buf[i + 2] << 8) | buf[i + 3]
                h = i + 4
            elif ln == 127:
                if n - i < 10:
                    break
                ln = int.from_bytes(buf[i + 2 : i + 10], "big")
                h = i + 10
            key = b""
            if b1 & 0x80:
                key = buf[h : h + 4]
                h += 4
            end = h + ln
            if end > n:
                break
            payload = buf[h:end]
            if key:
                payload = unmask(payload, key)
            out.append((b0 & 0x0F, bool(b0 & 0x80), payload))
            i = end
        self._buf = buf[i:] if i < n else b""
        return out
