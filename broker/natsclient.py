"""A trio-native NATS client: the thin I/O adapter around :mod:`broker.natsproto`.

One task owns the connection and reconnects by itself: it dials the servers in turn
(backoff doubling up to ``reconnect_max``), upgrades to TLS when asked or when the server
requires it, authenticates (token, user/password, or a credentials file's JWT with the
nonce signed by its NKey seed), re-sends every subscription, and confirms with
PING/PONG before it counts as connected. While connected, one writer task sends
everything queued since its last write in one ``send_all`` (publishes never await), and
the reader hands each message to ``on_message`` synchronously, a whole read's batch at a
time. A client PING every ``ping_interval`` seconds with more than ``max_outstanding``
unanswered pings counts the connection as dead (a partition), like nats.go does.

Publishes while disconnected are dropped and counted: service events are at most once
(docs/cluster.md); the subscriptions are kept and re-sent on reconnect.
"""

from __future__ import annotations

import base64
import logging
import ssl
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import trio

from parley.broker import natsproto as proto

log = logging.getLogger("parley.bus")


@dataclass(frozen=True, slots=True)
class NatsOptions:
    #: ``nats://host:port`` / ``tls://host:port`` / ``host:port``; credentials may be in
    #: the URL (``nats://user:pass@host``, ``nats://token@host``).
    servers: tuple[str, ...]
    token: str | None = None
    user: str | None = None
    password: str | None = None
    #: A ``.creds`` file (JWT + NKey seed), as ``nsc`` writes it.
    creds_file: Path | None = None
    #: Require TLS (also implied by a ``tls://`` URL or the server's ``tls_required``).
    tls: bool = False
    tls_ca_file: Path | None = None
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    name: str = "parley"
    ping_interval: float = 2.0
    max_outstanding: int = 2
    connect_timeout: float = 2.0
    reconnect_first: float = 0.05
    reconnect_max: float = 2.0
    #: Bytes queued for the writer at most; publishes beyond are dropped (counted).
    max_pending: int = 64 << 20


@dataclass(frozen=True, slots=True)
class _Server:
    host: str
    port: int
    tls: bool
    user: str | None
    password: str | None


def parse_servers(urls: tuple[str, ...]) -> list[_Server]:
    """``nats://a:4222,b`` style URLs -> servers (ValueError on a bad one)."""
    out: list[_Server] = []
    for given in urls:
        raw = given.strip()
        url = raw.rsplit("@", 1)[-1] if "@" in raw else raw  # no credentials in errors
        if not raw:
            continue
        if "://" not in raw:
            raw = "nats://" + raw
        parts = urlsplit(raw)
        if parts.scheme not in ("nats", "tls"):
            raise ValueError(f"the scheme of {url!r} must be nats:// or tls://")
        if not parts.hostname:
            raise ValueError(f"no host in {url!r}")
        try:
            port = parts.port or 4222
        except ValueError:
            raise ValueError(f"bad port in {url!r}") from None
        out.append(
            _Server(parts.hostname, port, parts.scheme == "tls", parts.username, parts.password)
        )
    if not out:
        raise ValueError("no NATS server URL given")
    return out


def read_creds(path: Path) -> tuple[str, bytes]:
    """The user JWT and the NKey seed of a ``.creds`` file."""
    text = path.read_text()
    blocks: list[str] = []
    inside: list[str] | None = None
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("---") and "BEGIN" in line:
            inside = []
        elif line.startswith("---") and "END" in line and inside is not None:
            blocks.append("".join(inside))
            inside = None
        elif inside is not None and line:
            inside.append(line)
    if len(blocks) < 2:
        raise ValueError(f"{path}: not a NATS credentials file (JWT and seed blocks)")
    return blocks[0], blocks[1].encode()


def sign_nonce(seed: bytes, nonce: str) -> str:
    """Sign the server's nonce with an NKey seed (Ed25519), base64url without padding."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    padded = seed + b"=" * (-len(seed) % 8)
    raw = base64.b32decode(padded)
    # 2 prefix bytes (seed + key type), 32 bytes of seed, 2 bytes of CRC16.
    key = Ed25519PrivateKey.from_private_bytes(raw[2:34])
    return base64.urlsafe_b64encode(key.sign(nonce.encode())).rstrip(b"=").decode()


class _Dead(Exception):
    """The connection is gone (stale, closed by the server, refused)."""


_CONNECTION_ERRORS = (
    OSError,
    trio.BrokenResourceError,
    trio.ClosedResourceError,
    trio.TooSlowError,
    ssl.SSLError,
    ValueError,
    proto.ProtocolError,
    _Dead,
)


def _leaf(exc: BaseException) -> BaseException:
    """The first exception inside (nested) exception groups."""
    while isinstance(exc, BaseExceptionGroup):
        exc = exc.exceptions[0]
    return exc


class NatsClient:
    def __init__(
        self,
        options: NatsOptions,
        on_message: Callable[[str, bytes], None],
        *,
        on_connect: Callable[[], None] | None = None,
    ) -> None:
        self.options = options
        self.servers = parse_servers(options.servers)
        self.on_message = on_message
        #: Called after every (re)connection once the subscriptions are re-sent.
        self.on_connect = on_connect
        self.connected = False
        self.last_error = "not connected yet"
        self._subs: dict[int, str] = {}
        self._next_sid = 1
        self._out = bytearray()
        self._wake = trio.Event()
        self._pongs: deque[trio.Event | None] = deque()
        self._ever = trio.Event()
        self._creds = read_creds(options.creds_file) if options.creds_file else None
        self.max_payload = 1 << 20
        self.published = 0
        self.received = 0
        self.dropped = 0
        self.reconnects = 0
        self.connections = 0

    # -- the API (never awaits, except flush) -----------------------------------------------
    def publish(self, subject: str, payload: bytes) -> bool:
        if not self.connected or len(self._out) > self.options.max_pending:
            self.dropped += 1
            return False
        if len(payload) > self.max_payload:
            self.dropped += 1
            log.warning(
                "bus message on %s over max_payload (%d bytes): dropped", subject, len(payload)
            )
            return False
        self._out += proto.pub(subject, payload)
        self.published += 1
        self._wake.set()
        return True

    def subscribe(self, subject: str) -> int:
        sid = self._next_sid
        self._next_sid += 1
        self._subs[sid] = subject
        if self.connected:
            self._out += proto.sub(subject, sid)
            self._wake.set()
        return sid

    def unsubscribe(self, sid: int) -> None:
        if self._subs.pop(sid, None) is not None and self.connected:
            self._out += proto.unsub(sid)
            self._wake.set()

    @property
    def subscriptions(self) -> int:
        return len(self._subs)

    async def flush(self) -> bool:
        """Wait until the server has processed everything sent so far (PING/PONG); False
        if the connection went away first. Callers bound the wait (``move_on_after``)."""
        if not self.connected:
            return False
        done = trio.Event()
        self._pongs.append(done)
        self._out += proto.PING
        self._wake.set()
        await done.wait()
        return self.connected

    async def wait_connected(self) -> None:
        await self._ever.wait()

    # -- the connection task ----------------------------------------------------------------
    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        delay = self.options.reconnect_first
        attempt = 0
        while True:
            server = self.servers[attempt % len(self.servers)]
            attempt += 1
            before = self.connections
            try:
                await self._session(server)
            except Exception as exc:
                leaf = _leaf(exc)
                if not isinstance(leaf, _CONNECTION_ERRORS):
                    raise
                reason = " ".join(str(leaf).split()) or type(leaf).__name__
                error = f"{server.host}:{server.port}: {reason}"
                if self.connections != before or error != self.last_error:
                    log.warning("bus: %s", error)
                self.last_error = error
            if self.connections != before:  # it was up: try again soon
                delay = self.options.reconnect_first
            self._out.clear()
            for waiter in self._pongs:
                if waiter is not None:
                    waiter.set()
            self._pongs.clear()
            await trio.sleep(delay)
            delay = min(delay * 2, self.options.reconnect_max)

    async def _session(self, server: _Server) -> None:
        opts = self.options
        parser = proto.Parser()
        with trio.fail_after(opts.connect_timeout):
            stream: trio.abc.Stream = await trio.open_tcp_stream(server.host, server.port)
        try:
            with trio.fail_after(opts.connect_timeout):
                await _read_until(stream, parser, proto.Info)
                info = parser.info
                assert info is not None
                if server.tls or opts.tls or info.fields.get("tls_required"):
                    stream = await self._tls(stream, server.host)
                self.max_payload = int(info.fields.get("max_payload", self.max_payload))
                hello = proto.connect(self._connect_options(server, info.fields))
                subs = b"".join(proto.sub(s, sid) for sid, s in self._subs.items())
                await stream.send_all(hello + subs + proto.PING)
                events = await _read_until(stream, parser, proto.Pong)
            for ev in events:
                if isinstance(ev, proto.Err):
                    raise _Dead(f"server refused: {ev.message}")
            if self.reconnects or self._ever.is_set():
                log.info("bus: reconnected to %s:%d", server.host, server.port)
            else:
                log.info("bus: connected to %s:%d", server.host, server.port)
            if self._ever.is_set():
                self.reconnects += 1
            self.connections += 1
            self.connected = True
            self.last_error = ""
            self._ever.set()
            if self.on_connect is not None:
                self.on_connect()
            for ev in events:  # what came with the PONG
                self._dispatch(ev)
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._writer, stream)
                nursery.start_soon(self._pinger)
                await self._reader(stream, parser)
        finally:
            self.connected = False
            await trio.aclose_forcefully(stream)

    def _connect_options(self, server: _Server, info: dict[str, Any]) -> dict[str, Any]:
        opts = self.options
        out: dict[str, Any] = {
            "verbose": False,
            "pedantic": False,
            "echo": False,  # a node's own publications do not come back to it
            "headers": False,
            "no_responders": False,
            "protocol": 1,
            "lang": "python-trio",
            "version": "parley",
            "name": opts.name,
            "tls_required": bool(server.tls or opts.tls),
        }
        user = server.user or opts.user
        password = server.password or opts.password
        if user and password:
            out["user"], out["pass"] = user, password
        elif user and not password:
            out["auth_token"] = user  # nats://TOKEN@host
        elif opts.token:
            out["auth_token"] = opts.token
        if self._creds is not None:
            jwt, seed = self._creds
            out["jwt"] = jwt
            nonce = info.get("nonce")
            if isinstance(nonce, str):
                out["sig"] = sign_nonce(seed, nonce)
        return out

    async def _tls(self, stream: trio.abc.Stream, host: str) -> trio.SSLStream[trio.abc.Stream]:
        opts = self.options
        context = ssl.create_default_context(
            cafile=str(opts.tls_ca_file) if opts.tls_ca_file else None
        )
        if opts.tls_cert_file:
            context.load_cert_chain(
                str(opts.tls_cert_file), str(opts.tls_key_file) if opts.tls_key_file else None
            )
        tls = trio.SSLStream(stream, context, server_hostname=host)
        await tls.do_handshake()
        return tls

    async def _reader(self, stream: trio.abc.Stream, parser: proto.Parser) -> None:
        while True:
            data = await stream.receive_some(1 << 16)
            if not data:
                raise _Dead("connection closed by the server")
            for ev in parser.feed(data):
                self._dispatch(ev)

    def _dispatch(self, ev: proto.Event) -> None:
        if type(ev) is proto.Msg:
            self.received += 1
            if ev.sid in self._subs:
                self.on_message(ev.subject, ev.payload)
        elif type(ev) is proto.Ping:
            self._out += proto.PONG
            self._wake.set()
        elif type(ev) is proto.Pong:
            if self._pongs:
                waiter = self._pongs.popleft()
                if waiter is not None:
                    waiter.set()
        elif type(ev) is proto.Err:
            log.warning("bus: server error: %s", ev.message)
            if "permission" not in ev.message.lower():
                raise _Dead(f"server error: {ev.message}")

    async def _writer(self, stream: trio.abc.Stream) -> None:
        while True:
            while not self._out:
                self._wake = trio.Event()
                await self._wake.wait()
            data = bytes(self._out)
            self._out.clear()
            await stream.send_all(data)

    async def _pinger(self) -> None:
        while True:
            await trio.sleep(self.options.ping_interval)
            outstanding = sum(1 for w in self._pongs if w is None)
            if outstanding >= self.options.max_outstanding:
                raise _Dead(f"no PONG to {outstanding} pings: connection stale")
            self._pongs.append(None)
            self._out += proto.PING
            self._wake.set()


async def _read_until(
    stream: trio.abc.Stream, parser: proto.Parser, kind: type[proto.Event]
) -> list[proto.Event]:
    """Read until an event of ``kind`` (or -ERR) arrives; return the events so far."""
    seen: list[proto.Event] = []
    while True:
        data = await stream.receive_some(1 << 16)
        if not data:
            raise _Dead("connection closed by the server")
        found = False
        for ev in parser.feed(data):
            if isinstance(ev, proto.Err):
                raise _Dead(f"server refused: {ev.message}")
            if found or isinstance(ev, kind):
                found = True
                if type(ev) is not kind:
                    seen.append(ev)
            elif not isinstance(ev, proto.Info):
                seen.append(ev)
        if found:
            return seen
