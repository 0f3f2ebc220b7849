"""Serve the REST app with Hypercorn's trio worker, inside the caller's trio run."""

from __future__ import annotations

import logging

import trio
from hypercorn.config import Config
from hypercorn.trio import serve
from quart_trio import QuartTrio


def hypercorn_config(host: str, port: int, shutdown_timeout: float) -> Config:
    config = Config()
    config.bind = [f"{host}:{port}"]
    config.graceful_timeout = shutdown_timeout
    config.accesslog = None
    # A logger instance is used as given: its records go through the process's logging
    # setup once, instead of also through a handler of Hypercorn's own.
    config.errorlog = logging.getLogger("hypercorn.error")
    return config


async def serve_http(
    app: QuartTrio,
    *,
    host: str,
    port: int,
    shutdown_timeout: float,
    task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve until cancelled; then shut down gracefully (in-flight requests get up to
    ``shutdown_timeout`` seconds). ``task_status.started`` gets the bound URLs,
    e.g. ``["http://127.0.0.1:8080"]`` (useful with ``http_port=0``)."""
    config = hypercorn_config(host, port, shutdown_timeout)
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
