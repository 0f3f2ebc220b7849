"""Serve the REST app with Hypercorn's trio worker, inside the caller's trio run."""

from __future__ import annotations

import logging
import socket

import trio
from hypercorn.config import Config
from hypercorn.trio import serve
from quart_trio import QuartTrio


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
