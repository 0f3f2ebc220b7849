"""A Web Push endpoint on 127.0.0.1 (trio + h11) that does what a push service and the
browser do with a push: checks the VAPID JWT (RFC 8292) against the server's key, and
decrypts the aes128gcm payload (RFC 8291) with the subscription's private key."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import h11
import http_ece
import jwt
import orjson
import trio
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from parley.domain.notify_push import b64url, b64url_decode


@dataclass
class Device:
    """A browser's push subscription: its key pair and auth secret."""

    name: str
    key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )
    auth: bytes = field(default_factory=lambda: os.urandom(16))

    def keys(self) -> dict[str, str]:
        point = self.key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return {"p256dh": b64url(point), "auth": b64url(self.auth)}


@dataclass
class Push:
    device: str
    headers: dict[str, str]
    claims: dict[str, Any]
    payload: dict[str, Any]


class PushEndpoint:
    """``/push/{device}``; a device in ``gone`` answers 410."""

    def __init__(self, server_key: str) -> None:
        self.server_key = server_key
        self.port = 0
        self.devices: dict[str, Device] = {}
        self.gone: set[str] = set()
        self.pushes: list[Push] = []
        self.refused: list[str] = []
        self.changed = trio.Event()
        #: TCP connections accepted (keep-alive reuse shows as few connections).
        self.connections = 0

    def device(self, name: str) -> Device:
        d = self.devices[name] = Device(name)
        return d

    def endpoint(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/push/{name}"

    async def start(self, nursery: trio.Nursery) -> None:
        listeners = await nursery.start(partial(trio.serve_tcp, self._serve, 0, host="127.0.0.1"))
        self.port = listeners[0].socket.getsockname()[1]

    async def wait(self, n: int) -> None:
        """Until ``n`` pushes were answered (wrap in ``trio.fail_after``)."""
        while len(self.pushes) + len(self.refused) < n:
            await self.changed.wait()
            self.changed = trio.Event()

    def _check(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, Push | None]:
        name = path.rsplit("/", 1)[-1]
        if name in self.gone:
            return 410, None
        scheme, _, params = headers.get("authorization", "").partition(" ")
        fields = dict(p.split("=", 1) for p in params.split(","))
        if scheme != "vapid" or fields.get("k") != self.server_key:
            return 401, None
        point = b64url_decode(fields["k"])
        public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
        claims = jwt.decode(
            fields["t"], public, algorithms=["ES256"], audience=f"http://127.0.0.1:{self.port}"
        )
        device = self.devices[name]
        if headers.get("content-encoding") != "aes128gcm":
            return 400, None
        plain = http_ece.decrypt(
            body, private_key=device.key, auth_secret=device.auth, version="aes128gcm"
        )
        return 201, Push(name, headers, claims, orjson.loads(plain))

    async def _serve(self, stream: trio.SocketStream) -> None:
        self.connections += 1
        conn = h11.Connection(h11.SERVER)
        request: h11.Request | None = None
        body = b""
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                conn.receive_data(await stream.receive_some(65536))
                continue
            if isinstance(event, h11.Request):
                request, body = event, b""
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage) and request is not None:
                headers = {k.decode().lower(): v.decode() for k, v in request.headers}
                try:
                    status, push = self._check(request.target.decode(), headers, body)
                except Exception as exc:  # a bad push: refused, and the test sees why
                    status, push = 400, None
                    self.refused.append(repr(exc))
                if push is not None:
                    self.pushes.append(push)
                elif status != 400:
                    self.refused.append(f"{status} {request.target.decode()}")
                self.changed.set()
                await stream.send_all(
                    conn.send(h11.Response(status_code=status, headers=[("content-length", "0")]))
                    + (conn.send(h11.EndOfMessage()) or b"")
                )
                conn.start_next_cycle()
                request = None
            elif isinstance(event, h11.ConnectionClosed):
                return
