"""Signed outgoing HTTP POSTs, for webhooks and bots (docs/automation.md).

**Signature.** Every POST carries ``Parley-Signature: t=<unix seconds>,v1=<hex>`` where
``<hex>`` is HMAC-SHA256 over ``f"{t}.".encode() + body`` with the endpoint's secret
(the scheme Stripe uses). A receiver recomputes it over the raw body, compares in
constant time and refuses a ``t`` more than 5 minutes from its clock (replay).
``Parley-Delivery`` is a stable id per delivery (the same on every retry: dedupe on it),
``Parley-Topic`` the event's topic. :func:`sign` and :func:`verify` are sans-IO.

**Where it may go.** ``http`` or ``https`` URLs only, no user info; every address the
host resolves to must be public (the previews' check, :func:`resolve_checked`), unless
``PARLEY_WEBHOOK_ALLOW_PRIVATE`` is set; the connection goes to the checked address, so
DNS cannot swap it afterwards. httpx under trio (anyio) sends it.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import httpx
import trio

from parley.domain import rules
from parley.domain.previews import Refused, resolve_checked

SIGNATURE_HEADER = "Parley-Signature"
DELIVERY_HEADER = "Parley-Delivery"
TOPIC_HEADER = "Parley-Topic"
#: How far a signature's time may be from the receiver's clock (seconds).
TOLERANCE_SECONDS = 300
MAX_URL_CHARS = 2000
#: Bytes of a response kept in the delivery log.
MAX_RESPONSE_CHARS = 500


def sign(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(
    secret: str, header: str, body: bytes, *, now: float, tolerance: float = TOLERANCE_SECONDS
) -> bool:
    """Whether ``header`` signs ``body`` with ``secret`` at a time within ``tolerance``."""
    fields = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        t = int(fields.get("t", ""))
    except ValueError:
        return False
    if abs(now - t) > tolerance:
        return False
    want = sign(secret, t, body).split("v1=", 1)[1]
    return hmac.compare_digest(want, fields.get("v1", ""))


def check_url(url: object) -> str:
    """A URL Parley may POST to (syntax only; the address is checked at each send)."""
    if not isinstance(url, str) or not url or len(url) > MAX_URL_CHARS:
        raise rules.bad(f"url must be an http(s) URL of at most {MAX_URL_CHARS} characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise rules.bad("url is not a valid URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise rules.bad("url must be an http:// or https:// URL with a host")
    if parts.username is not None or parts.password is not None:
        raise rules.bad("url must not carry user info")
    if port == 0:
        raise rules.bad("url has a bad port")
    rules.check_clean(url, "url")
    return url


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one POST got: a status (None: no response) and an error line."""

    status: int | None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


async def check_reachable(url: str, *, allow_private: bool) -> None:
    """``bad_request`` if the URL's host does not resolve or resolves to a private address
    (and private ones are not allowed)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        await trio.to_thread.run_sync(
            lambda: resolve_checked(host, port, allow_private=allow_private)
        )
    except Refused as exc:
        raise rules.bad(f"url refused: {exc}") from None


async def post_signed(
    client: httpx.AsyncClient,
    url: str,
    secret: str,
    body: bytes,
    *,
    delivery_id: str,
    topic: str,
    now: float,
    allow_private: bool,
    seconds: float,
) -> Outcome:
    """POST ``body`` to ``url`` (pinned to the checked address), signed, within ``seconds``;
    never raises for the receiver's faults."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        addr = await trio.to_thread.run_sync(
            lambda: resolve_checked(host, port, allow_private=allow_private)
        )
    except Refused as exc:
        return Outcome(None, str(exc))
    netloc = f"[{addr}]" if isinstance(ipaddress.ip_address(addr), ipaddress.IPv6Address) else addr
    pinned = urlunsplit((parts.scheme, f"{netloc}:{port}", parts.path or "/", parts.query, ""))
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Parley-Webhook/1",
        "Host": parts.netloc.rsplit("@", 1)[-1],
        SIGNATURE_HEADER: sign(secret, int(now), body),
        DELIVERY_HEADER: delivery_id,
        TOPIC_HEADER: topic,
    }
    extensions = {"sni_hostname": host} if parts.scheme == "https" else {}
    try:
        with trio.fail_after(seconds):
            response = await client.post(
                pinned, content=body, headers=headers, extensions=extensions, timeout=seconds
            )
    except trio.TooSlowError:
        return Outcome(None, f"timed out after {seconds:g}s")
    except httpx.HTTPError as exc:
        return Outcome(None, f"{type(exc).__name__}: {exc}"[:MAX_RESPONSE_CHARS])
    if 200 <= response.status_code < 300:
        return Outcome(response.status_code)
    return Outcome(response.status_code, f"HTTP {response.status_code}")
