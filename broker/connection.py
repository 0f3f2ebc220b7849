"""One WebSocket connection on trio: the thin I/O adapter around :class:`Session`.

wsproto parses the handshake, inbound frames (but for the common whole text frame, see
:mod:`broker.wsframes`) and control frames; outbound data frames are
pre-built bytes from :mod:`broker.frames` queued in the :class:`Outbox`. The connection's
state and timers (handshake deadline, keepalive ping and pong deadline, token expiry, close
deadline) live in a sans-IO :class:`~broker.lifecycle.Lifecycle`; this adapter drives it.
The connection's own task runs the handshake and then the reader, which waits for the
peer's next bytes only until ``lifecycle.next_deadline()`` and then does what
``on_deadline()`` says (ping, close with a code, or abort). One nursery holds the writer
and, from the first store-bound op on, the op worker (STYLE 8, 9). The reader never awaits
the application: store-bound ops go to the op worker through a bounded channel, so pongs
are always read.

Idle connections are what a broker holds most of, so the per-connection footprint is kept
small: one task while idle (the writer runs only while it has something to send on the
flusher's direct path), no HTTP handshake state after the upgrade (only wsproto's frame
parser is kept, :mod:`broker.wsconn`), ``__slots__``, and the op channel and worker
created at the first store-bound op.
"""

from __future__ import annotations

import contextlib
import logging
import os
from functools import partial
from typing import TYPE_CHECKING

import trio
from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    BytesMessage,
    CloseConnection,
    Ping,
    Pong,
    RejectConnection,
    Request,
    TextMessage,
)
from wsproto.utilities import LocalProtocolError, RemoteProtocolError

from parley.broker.auth import extract_token, origin_allowed, redact_target
from parley.broker.client import Client
from parley.broker.health import http_response, ops_path
from parley.broker.lifecycle import (
    Abort,
    ConnState,
    Lifecycle,
    SendPing,
    StartClose,
)
from parley.broker.outbox import Outbox
from parley.broker.protocol import error_frame
from parley.broker.session import Deferred, Session, failure_frame, new_session_id
from parley.broker.upgrade import accept_upgrade
from parley.broker.wsconn import WsServerConnection, http_version
from parley.core.claims import Claims
from parley.core.codes import CloseCode, ErrorCode
from parley.core.errors import AuthError, Unavailable
from parley.core.errors import CloseConnection as CloseRequest

if TYPE_CHECKING:
    from parley.broker.server import BrokerServer

log = logging.getLogger("parley.broker")

READ_SIZE = 64 * 1024
WS_PATH = "/ws"
MAX_REASON_BYTES = 123


class Connection:
    __slots__ = (
        "_ops",
        "_reading",
        "_tasks",
        "_wait",
        "_writing",
        "client",
        "lifecycle",
        "scope",
        "server",
        "session",
        "stream",
        "ws",
    )

    def __init__(self, stream: trio.abc.Stream, server: BrokerServer) -> None:
        self.stream = stream
        self.server = server
        #: The open connection's frame parser, set once the upgrade is accepted (the
        #: handshake's HTTP state is not kept; see broker/wsconn.py).
        self.ws: WsServerConnection | None = None
        self.scope = trio.CancelScope()
        s = server.config
        #: State and timers (sans-IO); the handshake deadline runs from here.
        self.lifecycle = Lifecycle(
            trio.current_time(),
            handshake_timeout=s.handshake_timeout,
            ping_interval=s.ping_interval,
            ping_timeout=s.ping_timeout,
        )
        self.client: Client | None = None
        self.session: Session | None = None
        #: The cancel scope the connection's task waits for the peer (or the store) in,
        #: so that a close started from elsewhere moves its deadline to the close deadline
        #: (moving the deadline of a scope already left does nothing).
        self._wait: trio.CancelScope | None = None
        self._tasks: trio.Nursery | None = None
        #: Store-bound ops to the op worker; both created at the first such op.
        self._ops: trio.MemorySendChannel[Deferred] | None = None
        self._reading = False
        self._writing = False

    # -- lifecycle ------------------------------------------------------------------
    async def run(self) -> None:
        try:
            with self.scope:
                claims = await self._handshake()
                if claims is not None:
                    await self._serve(claims)
        except Exception:
            log.exception("connection handler failed")
        finally:
            self.lifecycle.closed()
            if self.client is not None:
                self.client.outbox.detach_direct()
                self.server.forget(self)
            await trio.aclose_forcefully(self.stream)

    async def _handshake(self) -> Claims | None:
        """Upgrade and authenticate; the claims, or None if the connection was refused
        (or the handshake deadline passed)."""
        hs = WSConnection(ConnectionType.SERVER)
        with trio.move_on_at(self.lifecycle.next_deadline()):
            while True:
                data = await self._receive()
                if not data:
                    return None
                if await self._answer_ops(data):
                    return None
                try:
                    hs.receive_data(data)
                    for event in hs.events():
                        if isinstance(event, Request):
                            return await self._accept(hs, event)
                except RemoteProtocolError as exc:
                    hint = exc.event_hint or RejectConnection(status_code=400)
                    await self._send_quietly(hs.send(hint))
                    return None
        return None

    async def _answer_ops(self, data: bytes) -> bool:
        """Answer a plain ``GET /readyz`` (etc., broker/health.py) instead of a handshake."""
        ops = self.server.ops_endpoints
        path = ops_path(data) if ops is not None else None
        if path is None or ops is None:
            return False
        reply = await ops.respond(path)
        if reply is None:
            return False
        await self._send_quietly(http_response(reply))
        return True

    async def _accept(self, hs: WSConnection, request: Request) -> Claims | None:
        if http_version(hs) < b"1.1":  # RFC 6455 4.1: HTTP/1.1 or later
            await self._send_quietly(hs.send(RejectConnection(status_code=400)))
            return None
        path = request.target.split("?", 1)[0]
        if path != WS_PATH:
            await self._send_quietly(hs.send(RejectConnection(status_code=404)))
            return None
        upgrade, self.ws = accept_upgrade(hs, request)
        sent = 0
        if isinstance(self.stream, trio.SocketStream):
            # One non-blocking write on the socket (trio made it O_NONBLOCK), as the
            # flusher writes: a 129-byte response nearly always fits at once.
            with contextlib.suppress(OSError):
                sent = os.write(self.stream.socket.fileno(), upgrade)
        if sent < len(upgrade):  # a short write, or an error send_all meets again
            await self.stream.send_all(upgrade[sent:])
        try:
            return self._authenticate(request)
        except AuthError as exc:
            log.info("refused %s: %s", redact_target(request.target), exc.reason)
            code = CloseCode.TOKEN_EXPIRED if exc.expired else CloseCode.POLICY_VIOLATION
            await self._refuse(code, exc.reason)
            return None

    async def _serve(self, claims: Claims) -> None:
        srv = self.server
        limits = srv.config.limits
        if len(srv.connections) >= limits.max_connections:
            await self._refuse(CloseCode.SERVER_OVERLOAD, "server at its connection limit")
            return
        if srv.hub.connections_anywhere(claims.org, claims.sub) >= limits.max_connections_per_user:
            await self._refuse(CloseCode.CONNECTION_LIMIT, "too many connections for this user")
            return
        outbox = Outbox(limits.outbox_max_frames, limits.outbox_max_bytes)
        client = self.client = Client(
            new_session_id(), claims, outbox, self._overflowed, self.close_soon
        )
        if srv.flusher_running and isinstance(self.stream, trio.SocketStream):
            # Non-blocking writes on the socket's own descriptor (trio made it O_NONBLOCK);
            # detached in run()'s finally before the socket is closed.
            # The writer task then runs only while a short write left a backlog, or to send
            # the close frame: an idle connection holds no writer task.
            outbox.attach_direct(
                partial(os.write, self.stream.socket.fileno()), srv.flusher, self._start_writer
            )
        now = trio.current_time()
        session = self.session = Session(
            client,
            srv.hub,
            limits,
            ops=srv.ops,
            verifier=srv.verifier,
            now=now,
            policy=srv.policy,
        )
        self.lifecycle.open(now, self._expires_at(claims))
        srv.register(self)
        user = srv.hub.attach(client, loading=srv.ops is not None)
        if user.pending is not None and srv.ops is not None:
            # A close started meanwhile (close_soon) bounds the load by the close deadline.
            channel_ids: set[str] | None = None
            with trio.CancelScope() as self._wait:
                try:
                    loader = srv.channel_sets
                    if loader is not None and loader.running:  # batched with other accepts
                        channel_ids = await loader.load(claims.org, claims.sub)
                    else:
                        channel_ids = await srv.ops.user_channel_ids(claims.org, claims.sub)
                except Unavailable:  # an outage, logged once by the store: come back later
                    self.close_soon(CloseCode.TRY_AGAIN_LATER, "store unavailable, retry later")
            if self._wait.cancelled_caught:
                return  # the close deadline passed
            if channel_ids is not None:
                srv.hub.user_loaded(user, channel_ids)
        s = srv.config
        if self.lifecycle.state is ConnState.OPEN:
            client.send(session.hello({"interval": s.ping_interval, "timeout": s.ping_timeout}))
        try:
            async with trio.open_nursery() as nursery:
                self._tasks = nursery
                self._reading = True
                if outbox.backlog():  # e.g. a close started meanwhile (the flusher sends hello)
                    self._start_writer()
                try:
                    await self._reader()
                finally:
                    self._reading = False
                    if self._ops is not None:
                        self._ops.close()  # the worker finishes what is queued meanwhile
                if self._writing:
                    # The writer sends what is queued and the close frame, then cancels this;
                    # unless the close deadline passes first.
                    with trio.move_on_at(self.lifecycle.next_deadline()):
                        await trio.sleep_forever()
                    self._on_deadline()
                nursery.cancel_scope.cancel()
        finally:
            self._tasks = None

    def _authenticate(self, request: Request) -> Claims:
        srv = self.server
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.extra_headers]
        origin = next((v for k, v in headers if k.lower() == "origin"), None)
        if not origin_allowed(
            origin, srv.config.allowed_origins, request.host, srv.config.same_host_ports
        ):
            raise AuthError(f"origin not allowed: {origin}"[:MAX_REASON_BYTES])
        token = extract_token(headers, request.target)
        if token is None:
            raise AuthError("missing token")
        return srv.verifier.verify(token, now=srv.wall_clock())

    def _expires_at(self, claims: Claims) -> float:
        """The token's ``exp`` (a wall-clock time) as a trio time."""
        return trio.current_time() + (claims.exp - self.server.wall_clock())

    async def _refuse(self, code: CloseCode, reason: str) -> None:
        """Close right after the handshake, waiting briefly for the client's close."""
        assert self.ws is not None
        self.lifecycle.start_close(code, trio.current_time())
        with trio.move_on_at(self.lifecycle.next_deadline()):
            await self._send_quietly(self.ws.send(CloseConnection(code, reason)))
        await self._drain_until_closed()

    async def _receive(self) -> bytes:
        """Next bytes from the peer; ``b""`` at EOF or when the transport broke."""
        try:
            data = await self.stream.receive_some(READ_SIZE)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            return b""
        return bytes(data) if isinstance(data, bytearray) else data

    async def _send_quietly(self, data: bytes) -> None:
        with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
            await self.stream.send_all(data)

    def close_soon(self, code: CloseCode, reason: str, *, discard: bool = False) -> None:
        """Start the close handshake (never awaits). ``discard`` drops queued frames first.
        Does nothing unless the connection is open."""
        lc = self.lifecycle
        if lc.state is not ConnState.OPEN or self.client is None or self.ws is None:
            return
        lc.start_close(code, trio.current_time())
        try:
            frame: bytes | None = self.ws.send(CloseConnection(code, reason))
        except LocalProtocolError:
            frame = None
        self.client.outbox.close(frame, discard=discard)
        self.server.hub.detach(self.client)  # no more deliveries to a closing connection
        if self._wait is not None:
            self._wait.deadline = lc.next_deadline()  # a wait under way ends at the close deadline

    def _overflowed(self) -> None:
        self.close_soon(CloseCode.SLOW_CONSUMER, "slow consumer: outbound queue full", discard=True)

    def _on_deadline(self) -> bool:
        """Do what the lifecycle says is due now (never awaits); False once aborted."""
        due = self.lifecycle.on_deadline(trio.current_time())
        if isinstance(due, SendPing):
            assert self.client is not None and self.ws is not None
            self.client.send(self.ws.send(Ping(due.payload)))
        elif isinstance(due, StartClose):
            self.close_soon(due.code, due.reason)
        elif isinstance(due, Abort):
            self.scope.cancel()
            return False
        return True

    # -- tasks ------------------------------------------------------------------------
    async def _reader(self) -> None:
        assert self.client is not None and self.session is not None and self.ws is not None
        client, session, ws, stream = self.client, self.session, self.ws, self.stream
        lc = self.lifecycle
        claims = client.claims
        max_bytes = self.server.config.limits.max_frame_bytes
        parts: list[str] = []
        size = 0
        #: On a real socket the reader reads its descriptor itself (trio made it
        #: O_NONBLOCK): trio's ``receive_some`` costs a few context managers per read.
        fd = stream.socket.fileno() if isinstance(stream, trio.SocketStream) else -1
        #: The last read took all there was: wait for the socket before reading again,
        #: rather than pay a read that would fail with EAGAIN.
        drained = True
        #: Bytes that came with the upgrade request were fed to ``ws`` already.
        fed = True
        try:
            while True:
                # One cancel scope per deadline, not per read (entering one costs more
                # than a read): its deadline follows ``lc.next_deadline()``. Only the
                # awaits before a read can be cancelled, so no bytes are lost.
                with trio.CancelScope(deadline=lc.next_deadline()) as wait:
                    self._wait = wait
                    while True:
                        if not fed:
                            data: bytes | bytearray
                            if fd < 0:
                                try:
                                    data = await stream.receive_some(READ_SIZE)
                                except (trio.BrokenResourceError, trio.ClosedResourceError):
                                    data = b""
                            else:
                                data = b""
                                try:
                                    if drained:
                                        await trio.lowlevel.wait_readable(fd)
                                    else:
                                        # More may be waiting: let other tasks run (and
                                        # a cancel or a due deadline be seen) first.
                                        await trio.lowlevel.checkpoint()
                                    data = os.read(fd, READ_SIZE)
                                except BlockingIOError:
                                    drained = True
                                    continue
                                except OSError:
                                    pass  # the transport broke: as EOF
                                except trio.ClosedResourceError:
                                    pass  # closed meanwhile: its number is not read again
                                drained = len(data) < READ_SIZE
                            if not data:
                                client.outbox.close()
                                self.scope.cancel()
                                return
                            ws.receive_data(bytes(data) if isinstance(data, bytearray) else data)
                            del data
                        fed = False
                        for event in ws.events():
                            if isinstance(event, TextMessage):
                                if lc.state is not ConnState.OPEN:
                                    continue
                                size += len(event.data)
                                if size * 4 > max_bytes:
                                    size_bytes = sum(len(p.encode()) for p in parts)
                                    size_bytes += len(event.data.encode())
                                    if size_bytes > max_bytes:
                                        self.close_soon(
                                            CloseCode.MESSAGE_TOO_BIG,
                                            f"message over {max_bytes} bytes",
                                        )
                                        continue
                                if not event.message_finished:
                                    parts.append(event.data)
                                    continue
                                text = "".join(parts) + event.data if parts else event.data
                                parts.clear()
                                size = 0
                                deferred = session.handle_text(text, trio.current_time())
                                if client.claims is not claims:  # refreshed
                                    claims = client.claims
                                    lc.token_expires(self._expires_at(claims))
                                if deferred is not None:
                                    self._defer(deferred)
                            elif isinstance(event, BytesMessage):
                                self.close_soon(
                                    CloseCode.UNSUPPORTED_DATA, "binary frames are not supported"
                                )
                            elif isinstance(event, Ping):
                                if lc.state is ConnState.OPEN:
                                    client.send(ws.send(event.response()))
                            elif isinstance(event, Pong):
                                lc.on_pong(event.payload, trio.current_time())
                            elif isinstance(event, CloseConnection):
                                if lc.peer_closed(trio.current_time()):
                                    client.outbox.close(ws.send(event.response()))
                                return
                        # A frame header claiming more than a message may hold is refused
                        # as soon as it is read, not after its payload (which may never
                        # come). ``size`` counts characters, at most the UTF-8 bytes.
                        if lc.state is ConnState.OPEN and size + ws.pending_payload() > max_bytes:
                            self.close_soon(
                                CloseCode.MESSAGE_TOO_BIG, f"message over {max_bytes} bytes"
                            )
                        deadline = lc.next_deadline()
                        if wait.deadline != deadline:
                            wait.deadline = deadline
                # The scope's deadline passed: a deadline is due.
                if not self._on_deadline():
                    return
        except CloseRequest as exc:
            self.close_soon(exc.code, exc.reason)
            await self._drain_until_closed()
        except Exception:
            log.exception("reader failed")
            self.close_soon(CloseCode.INTERNAL_ERROR, "internal error")
            await self._drain_until_closed()

    def _defer(self, deferred: Deferred) -> None:
        """Hand a store-bound op to the op worker (started at the first one)."""
        assert self.client is not None
        if self._ops is None:
            assert self._tasks is not None
            limit = self.server.config.limits.max_in_flight
            self._ops, recv_ops = trio.open_memory_channel[Deferred](limit)
            self._tasks.start_soon(self._op_worker, recv_ops)
        try:
            self._ops.send_nowait(deferred)
        except trio.WouldBlock:
            self.client.send(
                error_frame(
                    deferred.cid,
                    ErrorCode.TOO_MANY_IN_FLIGHT,
                    "too many commands waiting; retry later",
                )
            )

    async def _drain_until_closed(self) -> None:
        """After we started the close, read until the peer's close frame, EOF or the close
        deadline."""
        assert self.ws is not None
        with trio.move_on_at(self.lifecycle.next_deadline()):
            while True:
                data = await self._receive()
                if not data:
                    return
                try:
                    self.ws.receive_data(data)
                except RemoteProtocolError:
                    return
                if any(isinstance(e, CloseConnection) for e in self.ws.events()):
                    return

    def _start_writer(self) -> None:
        """Start the writer unless it runs (or the connection's tasks are not open)."""
        if not self._writing and self._tasks is not None:
            self._writing = True
            self._tasks.start_soon(self._writer)

    async def _writer(self) -> None:
        assert self.client is not None and self._tasks is not None
        outbox, tasks = self.client.outbox, self._tasks
        try:
            # With the flusher's direct path this returns once nothing is left to send;
            # otherwise (memory streams) it parks in get() for the connection's life.
            while outbox.wants_writer():
                data = await outbox.get()
                if data is None:
                    break
                await self.stream.send_all(data)
                del data  # not kept while parked (an idle connection's last write)
                outbox.sent()
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            self.scope.cancel()
        finally:
            self._writing = False
            if not self._reading:
                tasks.cancel_scope.cancel()

    async def _op_worker(self, recv_ops: trio.MemoryReceiveChannel[Deferred]) -> None:
        """Run the connection's store-bound ops one after another, in the order sent; a
        run of plain posts queued back to back goes to the store together (one write
        batch, replies in order), as running them one by one would answer."""
        assert self.session is not None
        session = self.session
        limit = self.server.config.limits.max_in_flight
        with recv_ops:
            async for deferred in recv_ops:
                after: Deferred | None = None
                if deferred.draft is not None:
                    posts = [deferred]
                    while len(posts) < limit:
                        try:
                            queued = recv_ops.receive_nowait()
                        except (trio.WouldBlock, trio.EndOfChannel):
                            break
                        if queued.draft is None:
                            after = queued
                            break
                        posts.append(queued)
                    if len(posts) > 1:
                        await session.run_posts(posts)
                    else:
                        await self._run_op(deferred)
                else:
                    await self._run_op(deferred)
                if after is not None:
                    await self._run_op(after)

    async def _run_op(self, deferred: Deferred) -> None:
        assert self.client is not None
        try:
            await deferred.run()
        except Exception as exc:
            self.client.send(failure_frame(deferred.cid, exc))
