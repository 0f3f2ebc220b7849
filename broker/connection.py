"""One WebSocket connection on trio: the thin I/O adapter around :class:`Session`.

wsproto parses the handshake, inbound frames and control frames; outbound data frames are
pre-built bytes from :mod:`broker.frames` queued in the :class:`Outbox`. One nursery owns the
reader, the writer, the keepalive, the token-expiry watch and the op worker (STYLE 8, 9).
The reader never awaits the application: store-bound ops go to the op worker through a
bounded channel.
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
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Ping,
    Pong,
    RejectConnection,
    Request,
    TextMessage,
)
from wsproto.utilities import LocalProtocolError, RemoteProtocolError

from broker.auth import AuthError, Claims, extract_token, origin_allowed, redact_target
from broker.client import Client
from broker.codes import CloseCode, ErrorCode
from broker.errors import ClientError
from broker.errors import CloseConnection as CloseRequest
from broker.outbox import Outbox
from broker.protocol import error_frame
from broker.session import Deferred, Session, new_session_id

if TYPE_CHECKING:
    from broker.server import BrokerServer

log = logging.getLogger("parley.broker")

READ_SIZE = 64 * 1024
#: After a close frame is queued, how long the close handshake may take before the
#: transport is dropped.
CLOSE_TIMEOUT = 2.0
WS_PATH = "/ws"
MAX_REASON_BYTES = 123


class Connection:
    def __init__(self, stream: trio.abc.Stream, server: BrokerServer) -> None:
        self.stream = stream
        self.server = server
        self.ws = WSConnection(ConnectionType.SERVER)
        self.scope = trio.CancelScope()
        self.closing = False
        self.close_code: CloseCode | None = None
        self.client: Client | None = None
        self.session: Session | None = None
        self._pong: trio.Event | None = None
        self._ping_payload = b""
        self._pings = 0

    # -- lifecycle ------------------------------------------------------------------
    async def run(self) -> None:
        try:
            with self.scope:
                request = await self._handshake()
                if request is not None:
                    await self._serve(request)
        except Exception:
            log.exception("connection handler failed")
        finally:
            if self.client is not None:
                self.client.outbox.detach_direct()
                self.server.forget(self)
            await trio.aclose_forcefully(self.stream)

    async def _handshake(self) -> Request | None:
        with trio.move_on_after(self.server.settings.handshake_timeout):
            while True:
                data = await self._receive()
                if not data:
                    return None
                try:
                    self.ws.receive_data(data)
                    for event in self.ws.events():
                        if isinstance(event, Request):
                            return await self._accept(event)
                except RemoteProtocolError as exc:
                    hint = exc.event_hint or RejectConnection(status_code=400)
                    await self._send_quietly(self.ws.send(hint))
                    return None
        return None

    async def _accept(self, request: Request) -> Request | None:
        path = request.target.split("?", 1)[0]
        if path != WS_PATH:
            await self._send_quietly(self.ws.send(RejectConnection(status_code=404)))
            return None
        await self.stream.send_all(self.ws.send(AcceptConnection()))
        return request

    async def _serve(self, request: Request) -> None:
        srv = self.server
        limits = srv.settings.limits
        outbox = Outbox(limits.outbox_max_frames, limits.outbox_max_bytes)
        try:
            claims = self._authenticate(request)
        except AuthError as exc:
            log.info("refused %s: %s", redact_target(request.target), exc.reason)
            await self._refuse(CloseCode.POLICY_VIOLATION, exc.reason)
            return
        if len(srv.connections) >= limits.max_connections:
            await self._refuse(CloseCode.SERVER_OVERLOAD, "server at its connection limit")
            return
        if srv.hub.connections_of(claims.org, claims.sub) >= limits.max_connections_per_user:
            await self._refuse(CloseCode.CONNECTION_LIMIT, "too many connections for this user")
            return
        client = self.client = Client(new_session_id(), claims, outbox, self._overflowed)
        if srv.flusher_running and isinstance(self.stream, trio.SocketStream):
            # Non-blocking writes on the socket's own descriptor (trio made it O_NONBLOCK);
            # detached in run()'s finally before the socket is closed.
            outbox.attach_direct(partial(os.write, self.stream.socket.fileno()), srv.flusher)
        now = trio.current_time()
        session = self.session = Session(
            client, srv.hub, limits, ops=srv.ops, verifier=srv.verifier, now=now
        )
        srv.register(self)
        user = srv.hub.attach(client, loading=srv.ops is not None)
        if user.pending is not None and srv.ops is not None:
            srv.hub.user_loaded(user, await srv.ops.user_channel_ids(claims.org, claims.sub))
        s = srv.settings
        client.send(session.hello({"interval": s.ping_interval, "timeout": s.ping_timeout}))
        send_ops, recv_ops = trio.open_memory_channel[Deferred](limits.max_in_flight)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._keepalive)
            nursery.start_soon(self._expiry)
            nursery.start_soon(self._op_worker, recv_ops)
            async with trio.open_nursery() as io:
                io.start_soon(self._reader, send_ops)
                io.start_soon(self._writer)
            nursery.cancel_scope.cancel()

    def _authenticate(self, request: Request) -> Claims:
        srv = self.server
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.extra_headers]
        origin = next((v for k, v in headers if k.lower() == "origin"), None)
        if not origin_allowed(origin, srv.settings.allowed_origins, request.host):
            raise AuthError(f"origin not allowed: {origin}"[:MAX_REASON_BYTES])
        token = extract_token(headers, request.target)
        if token is None:
            raise AuthError("missing token")
        return srv.verifier.verify(token, now=srv.wall_clock())

    async def _refuse(self, code: CloseCode, reason: str) -> None:
        """Close right after the handshake, waiting briefly for the client's close."""
        self.close_code = code
        await self._send_quietly(self.ws.send(CloseConnection(code, reason)))
        with trio.move_on_after(CLOSE_TIMEOUT):
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
        """Start the close handshake (never awaits). ``discard`` drops queued frames first."""
        if self.closing or self.client is None:
            return
        self.closing = True
        self.close_code = code
        try:
            frame: bytes | None = self.ws.send(CloseConnection(code, reason))
        except LocalProtocolError:
            frame = None
        self.client.outbox.close(frame, discard=discard)
        self.server.hub.detach(self.client)  # no more deliveries to a closing connection
        self.scope.deadline = min(self.scope.deadline, trio.current_time() + CLOSE_TIMEOUT)

    def _overflowed(self) -> None:
        self.close_soon(CloseCode.SLOW_CONSUMER, "slow consumer: outbound queue full", discard=True)

    # -- tasks ------------------------------------------------------------------------
    async def _reader(self, send_ops: trio.MemorySendChannel[Deferred]) -> None:
        assert self.client is not None and self.session is not None
        client, session, ws = self.client, self.session, self.ws
        max_bytes = self.server.settings.limits.max_frame_bytes
        parts: list[str] = []
        size = 0
        with send_ops:
            try:
                while True:
                    data = await self._receive()
                    if not data:
                        client.outbox.close()
                        self.scope.cancel()
                        return
                    ws.receive_data(data)
                    for event in ws.events():
                        if isinstance(event, TextMessage):
                            if self.closing:
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
                            if deferred is not None:
                                try:
                                    send_ops.send_nowait(deferred)
                                except trio.WouldBlock:
                                    client.send(
                                        error_frame(
                                            deferred.cid,
                                            ErrorCode.TOO_MANY_IN_FLIGHT,
                                            "too many commands waiting; retry later",
                                        )
                                    )
                        elif isinstance(event, BytesMessage):
                            self.close_soon(
                                CloseCode.UNSUPPORTED_DATA, "binary frames are not supported"
                            )
                        elif isinstance(event, Ping):
                            if not self.closing:
                                client.send(ws.send(event.response()))
                        elif isinstance(event, Pong):
                            if self._pong is not None and event.payload == self._ping_payload:
                                self._pong.set()
                        elif isinstance(event, CloseConnection):
                            if not self.closing:
                                self.closing = True
                                client.outbox.close(ws.send(event.response()))
                            return
            except CloseRequest as exc:
                self.close_soon(exc.code, exc.reason)
                await self._drain_until_closed()
            except Exception:
                log.exception("reader failed")
                self.close_soon(CloseCode.INTERNAL_ERROR, "internal error")
                await self._drain_until_closed()

    async def _drain_until_closed(self) -> None:
        """After we started the close, read until the peer's close frame (or EOF)."""
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

    async def _writer(self) -> None:
        assert self.client is not None
        outbox = self.client.outbox
        try:
            while True:
                data = await outbox.get()
                if data is None:
                    return
                await self.stream.send_all(data)
                outbox.sent()
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            self.scope.cancel()

    async def _keepalive(self) -> None:
        s = self.server.settings
        while not self.closing:
            await trio.sleep(s.ping_interval)
            if self.closing:
                return
            self._pings += 1
            self._ping_payload = self._pings.to_bytes(4, "big")
            pong = self._pong = trio.Event()
            assert self.client is not None
            self.client.send(self.ws.send(Ping(self._ping_payload)))
            with trio.move_on_after(s.ping_timeout):
                await pong.wait()
            if not pong.is_set():
                self.close_soon(CloseCode.PONG_TIMEOUT, "no pong within the keepalive timeout")
                return

    async def _expiry(self) -> None:
        assert self.client is not None
        while not self.closing:
            remaining = self.client.claims.exp - self.server.wall_clock()
            if remaining <= 0:
                self.close_soon(CloseCode.TOKEN_EXPIRED, "token expired: refresh and reconnect")
                return
            await trio.sleep(remaining)

    async def _op_worker(self, recv_ops: trio.MemoryReceiveChannel[Deferred]) -> None:
        assert self.client is not None
        client = self.client
        with recv_ops:
            async for deferred in recv_ops:
                try:
                    await deferred.run()
                except ClientError as exc:
                    client.send(error_frame(deferred.cid, exc.code, exc.message))
                except Exception:
                    log.exception("op %s failed", deferred.cid)
                    client.send(error_frame(deferred.cid, ErrorCode.INTERNAL, "internal error"))
