"""Serve the REST app with Hypercorn's trio worker, inside the caller's trio run."""

from __future__ import annotations

import logging
import socket

import trio
from hypercorn.config import Config
from hypercorn.trio import serve
from hypercorn.typing import (
    ASGIReceiveCallable,
    ASGIReceiveEvent,
    ASGISendCallable,
    ASGISendEvent,
)
from quart_trio import QuartTrio
from quart_trio.asgi import TrioASGIHTTPConnection

#: After an early answer, how much of the unread request body is read and dropped so the
#: connection can serve the next request; a longer or slower body closes it instead.
DRAIN_MAX_BYTES = 32 * 1024 * 1024
DRAIN_SECONDS = 5.0


class KeepAliveSafeConnection(TrioASGIHTTPConnection):
    """Quart-Trio's HTTP connection, made safe for answering before the body is read.

    A handler may answer before the request body has arrived: 413 by ``Content-Length``,
    401 in ``before_request``, 400 for a body that is not JSON, 404 before an upload is
    read. Hypercorn 0.18 (``protocol/h11.py``, ``_maybe_recycle``) then closes the
    connection, since h11 cannot start the next request cycle, but it does so from
    inside the app's last ``send()``: that ``send`` first puts ``http.disconnect`` to the
    app, Quart-Trio's message task takes it and cancels the nursery the ``send`` runs in
    (``quart_trio/asgi.py``, ``handle_messages``), and the close (``send_eof``,
    ``aclose``) is cancelled half done. The socket stays open, the app queue is no longer
    read, and the connection wedges: the next request on it is never answered. So:

    * **Drain, within bounds.** A response that starts before the last body message has
      reached the app first waits (at most :data:`DRAIN_SECONDS`, and not for a body of
      more than :data:`DRAIN_MAX_BYTES`) for the rest of the body, which Quart's message
      task reads meanwhile (a refused body is not kept: Quart drops the bytes of a body
      over its limit). The body then has ended when the response does, and Hypercorn
      starts the next request cycle as after any request. Draining rather than closing
      at once because a client that writes its whole body before it reads (httpx,
      ``requests``) would otherwise get a reset instead of the 4xx JSON error.
    * **Else close, and say so.** A body not drained in time gets ``Connection: close``
      (RFC 9112 section 9.6), so a keep-alive client does not reuse the connection, and
      every ``send`` runs shielded, so the close Hypercorn starts inside it finishes
      (Hypercorn shields its socket writes already; this covers its bookkeeping around
      them)."""

    async def __call__(self, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
        headers = dict(self.scope["headers"])
        declared = headers.get(b"content-length", b"")
        expected = int(declared) if declared.isdigit() else None
        chunked = b"transfer-encoding" in headers
        received = 0
        # Set once the body has ended, or once draining it is no longer worth it.
        settled = trio.Event()
        ended = False
        if not chunked and not expected:  # no body
            ended = True
            settled.set()
        elif expected is not None and expected > DRAIN_MAX_BYTES:
            settled.set()

        async def tracked_receive() -> ASGIReceiveEvent:
            nonlocal ended, received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
            if message["type"] != "http.request" or not message.get("more_body", False):
                ended = True
            if ended or received > DRAIN_MAX_BYTES:
                settled.set()
            return message

        async def shielded_send(message: ASGISendEvent) -> None:
            if message["type"] == "http.response.start" and not ended:
                with trio.move_on_after(DRAIN_SECONDS):
                    await settled.wait()
                if not ended:
                    message = {
                        **message,
                        "headers": [*message.get("headers", ()), (b"connection", b"close")],
                    }
            with trio.CancelScope(shield=True):
                await send(message)

        await super().__call__(tracked_receive, shielded_send)


def hypercorn_config(
    host: str, port: int, shutdown_timeout: float, *, access_log: bool = False
) -> Config:
    config = Config()
    config.bind = [f"{host}:{port}"]
    config.graceful_timeout = shutdown_timeout
    # Hypercorn's access log, one line per request (``PARLEY_ACCESS_LOG``); the process's
    # log setup (parley.logs) renders it and scrubs tokens from the request line.
    config.accesslog = logging.getLogger("hypercorn.access") if access_log else None
    # A logger instance is used as given: its records go through the process's logging
    # setup once, instead of also through a handler of Hypercorn's own.
    config.errorlog = logging.getLogger("hypercorn.error")
    return config


def bind_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` with Hypercorn's options (closed on failure)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host.strip("[]"), port))
    except BaseException:
        sock.close()
        raise
    return sock


async def serve_http(
    app: QuartTrio,
    *,
    host: str,
    port: int,
    shutdown_timeout: float,
    access_log: bool = False,
    task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve until cancelled; then shut down gracefully (in-flight requests get up to
    ``shutdown_timeout`` seconds). ``task_status.started`` gets the bound URLs,
    e.g. ``["http://127.0.0.1:8080"]`` (useful with ``http_port=0``)."""
    config = hypercorn_config(host, port, shutdown_timeout, access_log=access_log)
    # Bound here, not by Hypercorn, which leaks its socket when the address is taken: an
    # OSError now is the caller's start-up error, and Hypercorn serves the socket as given.
    config.bind = [f"fd://{bind_socket(host, port).detach()}"]
    stop = trio.Event()
    shield = trio.CancelScope(shield=True)

    async def run(task_status: trio.TaskStatus[list[str]]) -> None:
        with shield:
            await serve(app, config, shutdown_trigger=stop.wait, task_status=task_status)

    async with trio.open_nursery() as nursery:
        try:
            binds: list[str] = await nursery.start(run)
            task_status.started(binds)
            await trio.sleep_forever()
        finally:
            stop.set()
            shield.deadline = trio.current_time() + shutdown_timeout + 1.0
