"""Web Push (RFC 8030) with VAPID (RFC 8292) and aes128gcm payload encryption (RFC 8291).

:func:`encode` is sans-IO: a subscription and a payload in, the request (URL, headers,
body) out, using ``http_ece`` for the encryption and ``py_vapid`` for the VAPID JWT
(pywebpush would bring aiohttp and requests; these two are what it uses inside).
:class:`Pusher` is the step's one trio task: it takes batches of new notifications from
a bounded queue (``offer`` never awaits: a full queue drops the batch, counted, its
notifications marked ``failed``), sends each to every subscription of its recipient
over httpx, and removes subscriptions the push service answers 404 or 410 (gone).
:class:`PushLanes` holds the keep-alive connections, per push service origin.
"""

from __future__ import annotations

import base64
import binascii
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import http_ece
import httpx
import orjson
import trio
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid02

from parley.core.errors import Unavailable
from parley.core.notifications import (
    STEP_FAILED,
    STEP_SENT,
    STEP_SKIPPED,
    Notification,
    PushSubscription,
)
from parley.domain import rules
from parley.domain.notify_config import NotifyConfig
from parley.store import Store, sql

log = logging.getLogger("parley.notifications.push")

#: RFC 8030 Urgency per notification priority.
URGENCY = {"low": "low", "normal": "normal", "high": "high", "urgent": "high"}
#: Seconds a VAPID token is valid (RFC 8292 allows up to 24 h).
VAPID_TTL = 12 * 3600
#: Largest payload before encryption (4 KiB less the aes128gcm overhead).
MAX_PAYLOAD = 3000


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def check_keys(p256dh: object, auth: object) -> tuple[str, str]:
    """A browser's subscription keys: a P-256 point (65 bytes) and a 16-byte secret."""
    try:
        if not isinstance(p256dh, str) or not isinstance(auth, str):
            raise ValueError
        point, secret = b64url_decode(p256dh), b64url_decode(auth)
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    except (ValueError, binascii.Error):
        raise rules.bad("keys.p256dh must be a base64url P-256 public key") from None
    if len(secret) != 16:
        raise rules.bad("keys.auth must be 16 bytes, base64url")
    return p256dh, auth


def new_private_key_pem() -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


class VapidKey:
    """The server's VAPID key pair (from the PEM of ``PARLEY_VAPID_PRIVATE_KEY`` or the
    one generated into the data dir)."""

    def __init__(self, pem: str) -> None:
        key = serialization.load_pem_private_key(pem.encode(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
            raise ValueError("the VAPID key must be an EC P-256 private key")
        self._vapid = Vapid02(private_key=key)
        raw = key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        #: The ``applicationServerKey`` browsers subscribe with (base64url).
        self.public_key = b64url(raw)
        #: (audience, subject) -> (Authorization header, its exp): one signature per push
        #: service per half of VAPID_TTL, not one per push.
        self._signed: dict[tuple[str, str], tuple[str, int]] = {}

    def headers(self, endpoint: str, subject: str, now: float) -> dict[str, str]:
        parts = urlsplit(endpoint)
        aud = f"{parts.scheme}://{parts.netloc}"
        cached = self._signed.get((aud, subject))
        if cached is None or cached[1] - now < VAPID_TTL / 2:
            exp = int(now) + VAPID_TTL
            signed: dict[str, str] = self._vapid.sign({"aud": aud, "sub": subject, "exp": exp})
            cached = (signed["Authorization"], exp)
            self._signed[(aud, subject)] = cached
        return {"Authorization": cached[0]}


@dataclass(frozen=True, slots=True)
class PushRequest:
    url: str
    headers: dict[str, str]
    body: bytes


def payload_of(n: Notification) -> bytes:
    """What the service worker receives (JSON, small enough for one record)."""
    data: dict[str, Any] = {
        "id": n.id,
        "type": n.type,
        "priority": n.priority,
        "title": n.title,
        "body": n.body,
        "link": n.link,
        "created_at": n.created_at.isoformat().replace("+00:00", "Z"),
    }
    raw = orjson.dumps(data)
    if len(raw) > MAX_PAYLOAD:
        data["body"] = n.body[: max(0, len(n.body) - (len(raw) - MAX_PAYLOAD) - 3)] + "…"
        raw = orjson.dumps(data)
    return raw


def encode(
    sub: PushSubscription,
    payload: bytes,
    key: VapidKey,
    *,
    subject: str,
    ttl: int,
    urgency: str,
    now: float,
) -> PushRequest:
    """The HTTP request that delivers ``payload`` to one subscription (sans-IO)."""
    body: bytes = http_ece.encrypt(
        payload,
        private_key=ec.generate_private_key(ec.SECP256R1()),
        dh=b64url_decode(sub.p256dh),
        auth_secret=b64url_decode(sub.auth),
        version="aes128gcm",
    )
    headers = key.headers(sub.endpoint, subject, now)
    headers.update(
        {
            "TTL": str(ttl),
            "Urgency": urgency,
            "Content-Encoding": "aes128gcm",
            "Content-Type": "application/octet-stream",
        }
    )
    return PushRequest(sub.endpoint, headers, body)


#: Origins whose connections are kept; pushes to further origins get a connection each.
MAX_ORIGINS = 256


class PushLanes:
    """Keep-alive HTTP/1.1 connections to push services, reused across batches: per
    origin (``scheme://host:port``, the VAPID audience) up to ``per_origin`` lanes, each
    an ``httpx.AsyncClient`` holding one connection, so at most ``per_origin`` requests
    are in flight to one push service. One client per lane rather than one pool of
    ``per_origin`` connections: under trio, httpx's shared pool measured 2-3x slower per
    request at 16-32 in flight (docs/notifications.md)."""

    def __init__(
        self,
        per_origin: int,
        timeout: float,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.per_origin = max(1, per_origin)
        self.timeout = timeout
        self._transport = transport
        #: origin -> (idle lanes, lanes opened, lanes free to open).
        self._idle: dict[str, list[httpx.AsyncClient]] = {}
        self._opened: dict[str, int] = {}
        self._free: dict[str, trio.Semaphore] = {}
        self._all: list[httpx.AsyncClient] = []

    def _client(self) -> httpx.AsyncClient:
        one = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        return httpx.AsyncClient(timeout=self.timeout, limits=one, transport=self._transport)

    async def post(self, url: str, headers: dict[str, str], body: bytes) -> httpx.Response:
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        free = self._free.get(origin)
        if free is None:
            if len(self._free) >= MAX_ORIGINS:
                async with self._client() as once:
                    return await once.post(url, headers=headers, content=body)
            free = self._free[origin] = trio.Semaphore(self.per_origin)
            self._idle[origin] = []
            self._opened[origin] = 0
        async with free:
            idle = self._idle[origin]
            if idle:
                client = idle.pop()
            else:
                client = self._client()
                self._all.append(client)
                self._opened[origin] += 1
            try:
                return await client.post(url, headers=headers, content=body)
            finally:
                idle.append(client)

    def lanes(self, origin: str) -> int:
        """Lanes (connections' clients) opened to ``origin`` so far."""
        return self._opened.get(origin, 0)

    async def aclose(self) -> None:
        with trio.CancelScope(shield=True):
            for client in self._all:
                await client.aclose()
        self._all.clear()
        self._idle.clear()
        self._opened.clear()
        self._free.clear()


class Pusher:
    """The Web Push step: one task, a bounded queue of batches, ``push_concurrency``
    requests in flight per push service origin over :class:`PushLanes`."""

    def __init__(
        self,
        store: Store,
        key: VapidKey,
        config: NotifyConfig,
        *,
        clock: Callable[[], float] = time.time,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.store = store
        self.key = key
        self.config = config
        self.clock = clock
        self._transport = transport
        self._send, self._receive = trio.open_memory_channel[list[Notification]](config.push_queue)
        self.dropped = 0
        self.sent = 0
        self.failed = 0
        self.gone = 0
        #: Batches finished (sent, states stored).
        self.batches = 0

    def offer(self, items: Sequence[Notification]) -> None:
        try:
            self._send.send_nowait(list(items))
        except trio.WouldBlock:
            self.dropped += len(items)
            log.warning("push queue full: %d notifications not pushed", len(items))

    def new_lanes(self) -> PushLanes:
        return PushLanes(self.config.push_concurrency, self.config.push_timeout, self._transport)

    async def run(self) -> None:
        lanes = self.new_lanes()  # kept for the task's life: connections stay open
        try:
            async for batch in self._receive:
                try:
                    await self.push_batch(lanes, batch)
                except Unavailable:
                    self.failed += len(batch)  # the store logs the outage once
                except Exception:  # the next batch goes on; never take the server down
                    log.exception("push batch failed")
                self.batches += 1
        finally:
            await lanes.aclose()

    async def flush(self) -> int:
        """Send every queued batch now, over lanes of its own (tests, the bench);
        return how many notifications were in them."""
        n = 0
        lanes = self.new_lanes()
        try:
            while True:
                try:
                    batch = self._receive.receive_nowait()
                except trio.WouldBlock:
                    return n
                await self.push_batch(lanes, batch)
                self.batches += 1
                n += len(batch)
        finally:
            await lanes.aclose()

    async def push_batch(self, client: PushLanes, batch: list[Notification]) -> None:
        by_org: dict[str, list[Notification]] = {}
        for n in batch:
            by_org.setdefault(n.org, []).append(n)
        for org, items in by_org.items():
            await self._push_org(client, org, items)

    async def _push_org(self, client: PushLanes, org: str, items: list[Notification]) -> None:
        users = list(dict.fromkeys(n.recipient for n in items))
        subs = await self.store.read(sql.notify_prefs.subscriptions, org, users)
        by_user: dict[str, list[PushSubscription]] = {}
        for s in subs:
            by_user.setdefault(s.user_id, []).append(s)
        outcome: dict[str, list[str]] = {STEP_SENT: [], STEP_FAILED: [], STEP_SKIPPED: []}
        gone: set[str] = set()
        # Bounds the requests encoded and waiting for a lane (the lanes bound the sending).
        limiter = trio.CapacityLimiter(4 * self.config.push_concurrency)

        async def one(n: Notification, targets: list[PushSubscription]) -> None:
            ok = False
            payload = payload_of(n)
            for s in targets:
                async with limiter:
                    status = await self._post(client, s, n, payload)
                if status in (404, 410):
                    gone.add(s.id)
                elif 200 <= status < 300:
                    ok = True
            outcome[STEP_SENT if ok else STEP_FAILED].append(n.id)

        async with trio.open_nursery() as nursery:
            for n in items:
                targets = by_user.get(n.recipient, [])
                if not targets:
                    outcome[STEP_SKIPPED].append(n.id)
                else:
                    nursery.start_soon(one, n, targets)
        for sid in gone:
            await self.store.write(sql.notify_prefs.delete_subscription, org, None, sid)
        self.gone += len(gone)
        self.sent += len(outcome[STEP_SENT])
        self.failed += len(outcome[STEP_FAILED])
        for state, ids in outcome.items():
            if ids:
                await self.store.write(sql.notifications.set_push_state, ids, state)

    async def _post(
        self, client: PushLanes, sub: PushSubscription, n: Notification, payload: bytes
    ) -> int:
        req = encode(
            sub,
            payload,
            self.key,
            subject=self.config.vapid_subject,
            ttl=self.config.push_ttl,
            urgency=URGENCY.get(n.priority, "normal"),
            now=self.clock(),
        )
        try:
            resp = await client.post(req.url, req.headers, req.body)
        except httpx.HTTPError as exc:
            log.info("push to %s failed: %s", urlsplit(sub.endpoint).netloc, exc)
            return 0
        if resp.status_code >= 300 and resp.status_code not in (404, 410):
            log.info("push to %s refused: %d", urlsplit(sub.endpoint).netloc, resp.status_code)
        return resp.status_code
