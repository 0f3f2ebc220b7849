"""Accepting connections, tracking them, and shutting down within a bound."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Coroutine
from functools import partial
from typing import Any

import structlog
import trio

from parley.broker.access import TopicPolicy
from parley.broker.auth import TokenVerifier
from parley.broker.channelsets import ChannelSetLoader
from parley.broker.config import BrokerConfig
from parley.broker.connection import Connection
from parley.broker.flusher import Flusher
from parley.broker.hub import Hub
from parley.core.codes import CloseCode
from parley.core.ports import ChannelOps, OpsEndpoints

log = logging.getLogger("parley.broker")


class BrokerServer:
    """Serves ``/ws``. One failing connection never takes the server down: every handler
    catches its own errors (an exception escaping a handler would tear down the nursery
    that holds every connection)."""

    def __init__(
        self,
        config: BrokerConfig,
        hub: Hub,
        verifier: TokenVerifier,
        *,
        ops: ChannelOps | None = None,
        wall_clock: Callable[[], float] = time.time,
        ops_endpoints: OpsEndpoints | None = None,
    ) -> None:
        self.config = config
        #: Topic permissions (broker/access.py); a bad configuration fails here, at start.
        self.policy = TopicPolicy.parse(config.topic_namespaces)
        self.hub = hub
        self.verifier = verifier
        self.ops = ops
        #: Batches the channel-set loads of accepted connections (broker/channelsets.py);
        #: its task runs inside serve(). Connections handled without it load one by one.
        self.channel_sets = ChannelSetLoader(ops.user_channel_sets) if ops is not None else None
        self.wall_clock = wall_clock
        self.connections: set[Connection] = set()
        #: Writes dirty outboxes once per scheduler pass (see broker/flusher.py); runs
        #: inside serve(). Connections handled without it use their writer tasks only.
        self.flusher = Flusher()
        self.flusher_running = False
        self._stop = trio.Event()
        #: Set once shutdown has drained every connection.
        self.stopped = trio.Event()
        self._idle = trio.Event()
        self._idle.set()
        self.port: int | None = None
        #: ``GET /livez`` etc. on the broker port (broker/health.py), if given.
        self.ops_endpoints = ops_endpoints
        #: Counters read by the metrics collector (parley/ops/metrics.py): connections
        #: accepted (open: ``len(connections)``), and closed by our close code (``peer``:
        #: the client closed first or the transport broke).
        self.accepted = 0
        self.closed_by_code: dict[str, int] = {}

    # -- registry ---------------------------------------------------------------------
    def register(self, conn: Connection) -> None:
        """An accepted connection (called in the connection's own task: the connection
        id bound here goes on every log line of that task and its children)."""
        self.connections.add(conn)
        self._idle = trio.Event() if self._idle.is_set() else self._idle
        self.accepted += 1
        if conn.client is not None:
            claims = conn.client.claims
            structlog.contextvars.bind_contextvars(conn_id=conn.client.session_id)
            remote = _remote(conn.stream)
            log.info(
                "connected user=%s org=%s remote=%s",
                claims.sub,
                claims.org,
                remote,
                extra={"user": claims.sub, "org": claims.org, "remote": remote},
            )

    def forget(self, conn: Connection) -> None:
        if conn in self.connections:
            code = conn.lifecycle.close_code
            label = "peer" if code is None else str(int(code))
            self.closed_by_code[label] = self.closed_by_code.get(label, 0) + 1
            if conn.client is not None:
                claims = conn.client.claims
                remote = _remote(conn.stream)
                log.info(
                    "disconnected user=%s org=%s remote=%s close_code=%s",
                    claims.sub,
                    claims.org,
                    remote,
                    label,
                    extra={
                        "user": claims.sub,
                        "org": claims.org,
                        "remote": remote,
                        "close_code": label,
                    },
                )
        self.connections.discard(conn)
        if conn.client is not None:
            self.hub.detach(conn.client)
        if not self.connections:
            self._idle.set()

    # -- serving ------------------------------------------------------------------------
    def handle(self, stream: trio.abc.Stream) -> Coroutine[Any, Any, None]:
        """Serve one transport (a TCP stream, or a memory stream in tests). Returns the
        connection's coroutine itself (no wrapper frame held for the connection's life)."""
        return Connection(stream, self).run()

    async def serve(
        self,
        *,
        task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Listen on config.host:port until :meth:`shutdown`; then stop accepting,
        close every connection with 1001 and wait at most ``shutdown_timeout``."""
        s = self.config
        listeners = await trio.open_tcp_listeners(s.port, host=s.host)
        self.port = listeners[0].socket.getsockname()[1]
        async with trio.open_nursery() as handlers:
            handlers.start_soon(self._flush_outboxes)
            if self.channel_sets is not None:
                await handlers.start(self.channel_sets.run)
            async with trio.open_nursery() as accepting:
                await accepting.start(
                    partial(trio.serve_listeners, handler_nursery=handlers), self.handle, listeners
                )
                accepting.start_soon(self.hub.presence.run)
                task_status.started(self.port)
                await self._stop.wait()
                accepting.cancel_scope.cancel()
            await self.drain()
            handlers.cancel_scope.cancel()
        self.stopped.set()

    async def _flush_outboxes(self) -> None:
        self.flusher_running = True
        try:
            await self.flusher.run()
        finally:
            self.flusher_running = False

    async def drain(self) -> None:
        """Close every connection with 1001 and wait for them, within shutdown_timeout."""
        for conn in list(self.connections):
            conn.close_soon(CloseCode.GOING_AWAY, "server shutdown")
        with trio.move_on_after(self.config.shutdown_timeout):
            await self._idle.wait()
        if self.connections:
            log.warning("%d connections did not close in time", len(self.connections))

    def shutdown(self) -> None:
        self._stop.set()


def _remote(stream: trio.abc.Stream) -> str:
    """``host:port`` of the peer of a TCP stream; ``-`` for other transports."""
    if isinstance(stream, trio.SocketStream):
        try:
            peer = stream.socket.getpeername()
        except OSError:
            return "-"
        return f"{peer[0]}:{peer[1]}"
    return "-"
