"""Link previews: title, description and image of URLs in messages (docs/files.md).

Off by default. Only hosts on the allow-list (``PARLEY_PREVIEW_HOSTS``: ``example.com``,
``*.example.com``, optionally ``:port``) are fetched, by the server, with the stdlib in a
worker thread: one timeout for the whole fetch, a size cap on the body, at most
``max_redirects`` redirects, each re-checked. Every address a host resolves to must be
public (not private, loopback, link-local, multicast, reserved): the connection goes to
the address that was checked, so DNS cannot swap it afterwards. An allow-list entry
ending in ``!private`` opts that host into private addresses (a test server on loopback).

After a post, :class:`PreviewHook` fetches in the background, stores the previews with the
message and pushes an ephemeral ``link_preview`` channel event.
"""

from __future__ import annotations

import contextlib
import http.client
import ipaddress
import re
import socket
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin, urlsplit

import trio

from parley.core.events import Ephemeral
from parley.core.ports import EventSink
from parley.core.records import PostResult
from parley.domain import access
from parley.store import Store, sql

URL = re.compile(r"https?://[^\s<>\"'`]+", re.IGNORECASE)
MAX_FIELD = 500
DEFAULT_TIMEOUT = 5.0


@dataclass(frozen=True, slots=True)
class PreviewConfig:
    #: Allowed hosts; empty: previews are off.
    hosts: tuple[str, ...] = ()
    timeout: float = DEFAULT_TIMEOUT
    max_bytes: int = 512 * 1024
    max_redirects: int = 3
    max_urls: int = 3
    #: Fetches running at once (their own worker threads, never the store's).
    max_concurrent: int = 4

    @property
    def enabled(self) -> bool:
        return bool(self.hosts)

    def rule(self, host: str, port: int) -> tuple[bool, bool]:
        """(allowed, private addresses allowed) for ``host:port``."""
        host = host.lower().rstrip(".")
        for entry in self.hosts:
            private = entry.endswith("!private")
            pattern = entry.removesuffix("!private")
            name, want_port = pattern.rsplit(":", 1) if ":" in pattern else (pattern, "")
            if want_port and want_port != str(port):
                continue
            if name == host or (name.startswith("*.") and host.endswith(name[1:])):
                return True, private
        return False, False


class Refused(Exception):
    """This URL is not fetched (not allowed, private address, bad response...)."""


@dataclass(frozen=True, slots=True)
class Preview:
    url: str
    title: str | None
    description: str | None
    image: str | None

    def json(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "title": self.title,
            "description": self.description,
            "image": self.image,
        }


def urls_in(text: str, limit: int) -> list[str]:
    found = [u.rstrip(".,;:!?)]}") for u in URL.findall(text)]
    return list(dict.fromkeys(found))[:limit]


def _public(addr: str) -> bool:
    """A globally reachable address (the standard library's ``is_global``: not private,
    shared (100.64.0.0/10, carrier-grade NAT, where cloud metadata services live),
    loopback, link-local, reserved, documentation...). An IPv6 address that carries an
    IPv4 one (mapped, 6to4 2002::/16, Teredo) must carry a global one."""
    ip = ipaddress.ip_address(addr.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return _public(str(ip.ipv4_mapped))
        if ip.sixtofour is not None:
            return _public(str(ip.sixtofour))
        if ip.teredo is not None:
            return all(_public(str(a)) for a in ip.teredo)
    return ip.is_global and not ip.is_multicast


def _resolve(host: str, port: int, allow_private: bool) -> str:
    """The address to connect to: every address of the host must pass."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise Refused(f"cannot resolve {host}") from exc
    addrs = [str(info[4][0]) for info in infos]
    if not addrs:
        raise Refused(f"cannot resolve {host}")
    if not allow_private and not all(_public(a) for a in addrs):
        raise Refused(f"{host} resolves to a private address")
    return addrs[0]


def resolve_checked(host: str, port: int, *, allow_private: bool) -> str:
    """The one address to connect to for ``host:port``, every address it resolves to
    checked public unless ``allow_private``; :class:`Refused` otherwise (blocking: call it
    in a thread). Outgoing webhooks and bots use it too (docs/automation.md)."""
    return _resolve(host, port, allow_private)


class _Watchdog:
    """The wall-clock deadline of one whole fetch (redirects included). The socket timeout
    only bounds each ``recv``, so a host that sends a byte every half second would hold a
    thread for ever; at the deadline the watchdog shuts the socket down, which ends any
    read in progress (plain or TLS) at once."""

    def __init__(self, seconds: float) -> None:
        self.expired = False
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True
        self._timer.start()

    def _fire(self) -> None:
        with self._lock:
            self.expired = True
            self._shutdown()

    def _shutdown(self) -> None:
        if self._sock is not None:
            with contextlib.suppress(OSError):  # already closed
                self._sock.shutdown(socket.SHUT_RDWR)

    def watch(self, sock: socket.socket) -> None:
        with self._lock:
            self._sock = sock
            if self.expired:
                self._shutdown()

    def cancel(self) -> None:
        self._timer.cancel()


class _Pinned(http.client.HTTPConnection):
    def __init__(self, host: str, port: int, addr: str, timeout: float, dog: _Watchdog) -> None:
        super().__init__(host, port, timeout=timeout)
        self._addr = addr
        self._dog = dog

    def connect(self) -> None:
        self.sock = socket.create_connection((self._addr, self.port), self.timeout)
        self._dog.watch(self.sock)


class _PinnedTLS(http.client.HTTPSConnection):
    def __init__(self, host: str, port: int, addr: str, timeout: float, dog: _Watchdog) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._addr = addr
        self._dog = dog

    def connect(self) -> None:
        sock = socket.create_connection((self._addr, self.port), self.timeout)
        self._dog.watch(sock)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)  # type: ignore[attr-defined]


class _Meta(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.meta: dict[str, str] = {}
        self.title: str | None = None
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k.lower(): v or "" for k, v in attrs}
        if tag == "meta":
            key = (a.get("property") or a.get("name") or "").lower()
            if key and "content" in a:
                self.meta.setdefault(key, a["content"])
        elif tag == "title" and self.title is None:
            self._in_title = True
            self.title = ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False

    def handle_data(self, data: str) -> None:
        if self._in_title and self.title is not None:
            self.title += data


def _clip(text: str | None) -> str | None:
    if text is None:
        return None
    text = " ".join(text.split())
    return text[:MAX_FIELD] or None


def parse_html(url: str, body: bytes, charset: str | None) -> Preview | None:
    parser = _Meta()
    try:
        parser.feed(body.decode(charset or "utf-8", errors="replace"))
    except (LookupError, AssertionError):
        return None
    m = parser.meta
    title = _clip(m.get("og:title") or parser.title)
    description = _clip(m.get("og:description") or m.get("description"))
    image = m.get("og:image")
    if image:
        image = urljoin(url, image.strip())
        if urlsplit(image).scheme not in ("http", "https") or len(image) > 2048:
            image = None
    if not (title or description or image):
        return None
    return Preview(url=url, title=title, description=description, image=image)


def fetch_sync(url: str, config: PreviewConfig) -> Preview | None:
    """Fetch and parse one URL (blocking), within ``config.timeout`` of wall-clock time
    in all. Refused when policy says no, and when the deadline passes."""
    dog = _Watchdog(config.timeout)
    try:
        found = _fetch(url, config, dog)
    except Refused:
        if dog.expired:
            raise Refused("timed out") from None
        raise
    finally:
        dog.cancel()
    if dog.expired:  # the body was cut short: what arrived is not the page
        raise Refused("timed out")
    return found


def _fetch(url: str, config: PreviewConfig, dog: _Watchdog) -> Preview | None:
    for _ in range(config.max_redirects + 1):
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise Refused("only http and https URLs")
        if parts.username or parts.password:
            raise Refused("URLs with credentials are not fetched")
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError as exc:
            raise Refused("bad port") from exc
        allowed, private = config.rule(parts.hostname, port)
        if not allowed:
            raise Refused(f"{parts.hostname} is not on the allow-list")
        addr = _resolve(parts.hostname, port, private)
        cls = _PinnedTLS if parts.scheme == "https" else _Pinned
        conn = cls(parts.hostname, port, addr, config.timeout, dog)
        try:
            path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            conn.request(
                "GET",
                path,
                headers={"User-Agent": "ParleyPreview/1", "Accept": "text/html"},
            )
            resp = conn.getresponse()
            if resp.status in (301, 302, 303, 307, 308):
                location = resp.getheader("Location")
                if not location:
                    raise Refused("redirect without a location")
                url = urljoin(url, location)
                continue
            if resp.status != 200:
                raise Refused(f"status {resp.status}")
            ctype = resp.getheader("Content-Type", "")
            if "html" not in ctype.lower():
                raise Refused(f"not HTML: {ctype}")
            body = resp.read(config.max_bytes)
            charset = resp.headers.get_content_charset()
            return parse_html(url, body, charset)
        except (OSError, http.client.HTTPException) as exc:
            raise Refused(f"fetch failed: {exc}") from exc
        finally:
            conn.close()
    raise Refused("too many redirects")


async def fetch(
    url: str, config: PreviewConfig, limiter: trio.CapacityLimiter | None = None
) -> Preview | None:
    """:func:`fetch_sync` in a worker thread of ``limiter`` (the preview service's own:
    outside hosts never take the threads the store's calls need), under the overall
    timeout (Refused on expiry; the thread itself ends by then too, see _Watchdog)."""
    with trio.move_on_after(config.timeout) as scope:
        return await trio.to_thread.run_sync(
            fetch_sync, url, config, abandon_on_cancel=True, limiter=limiter
        )
    if scope.cancelled_caught:
        raise Refused("timed out")
    return None


class PreviewService:
    def __init__(
        self,
        store: Store,
        sink: EventSink,
        config: PreviewConfig,
        spawn: Callable[..., None],
    ) -> None:
        self.store = store
        self.sink = sink
        self.config = config
        #: Starts a background task (the composition root's nursery), so that fetching
        #: never delays the post.
        self.spawn = spawn
        #: The fetches' own worker threads; a slow host waits here, never on the threads
        #: of trio's default limiter that store calls use.
        self.limiter = trio.CapacityLimiter(config.max_concurrent)

    async def after_post(self, result: PostResult) -> None:
        """A post hook: fetch the previews of a new message's URLs in the background."""
        if self.config.enabled and result.created and urls_in(result.message.text, 1):
            self.spawn(self.run, result)

    async def run(self, result: PostResult) -> list[Preview]:
        m = result.message
        previews: list[Preview] = []
        for url in urls_in(m.text, self.config.max_urls):
            try:
                p = await fetch(url, self.config, self.limiter)
            except Refused:
                continue
            if p is not None:
                previews.append(p)
        if previews:
            data = [p.json() for p in previews]
            await self.store.write(sql.previews.save_previews, m.org, m.id, data)
            self.sink.publish_channel_ephemeral(
                m.org, m.channel_id, Ephemeral.LINK_PREVIEW, {"message_id": m.id, "previews": data}
            )
        return previews

    async def get(
        self, org: str, user_id: str, channel_id: str, message_id: str
    ) -> list[dict[str, Any]]:
        await access.membership(self.store, org, user_id, channel_id)
        await access.message(self.store, org, channel_id, message_id, live=False)
        return await self.store.read(sql.previews.get_previews, org, message_id)
