"""Wiring: one trio process runs the broker and, unless broker-only, the store and REST API."""

from __future__ import annotations

import gc
import logging
import signal
from contextlib import AsyncExitStack
from dataclasses import dataclass
from functools import partial

import trio

from parley.broker.auth import TokenVerifier
from parley.broker.hub import Hub
from parley.broker.presence import PresenceConfig
from parley.broker.server import BrokerServer
from parley.config import SECRET_FILE, Settings

log = logging.getLogger("parley")


@dataclass(frozen=True)
class Running:
    """What :func:`serve` started. ``shutdown()`` closes clients with 1001 and stops."""

    broker: BrokerServer
    ws_port: int
    http_port: int | None

    def shutdown(self) -> None:
        self.broker.shutdown()


async def serve(
    settings: Settings,
    *,
    broker_only: bool = False,
    task_status: trio.TaskStatus[Running] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve until ``Running.shutdown()`` (or cancellation). No signal handling here, so it
    also runs in a thread (tests)."""
    settings, source = settings.with_secret()
    if source != "configured":
        log.warning(
            "no PARLEY_JWT_SECRET set: %s the JWT secret kept in %s",
            "generated" if source == "generated" else "using",
            settings.data_dir / SECRET_FILE,
        )
    hub = Hub(PresenceConfig.from_env())
    verifier = TokenVerifier(settings)
    async with AsyncExitStack() as stack:
        ops = None
        app = None
        if not broker_only:
            from parley.api.app import create_app
            from parley.chat import ChatService
            from parley.store import open_store

            url = settings.effective_database_url
            if url.startswith("sqlite"):
                settings.data_dir.mkdir(parents=True, exist_ok=True)
            store = await stack.enter_async_context(open_store(url))
            version = await store.migrate()
            log.info("store %s at schema version %d", _redact(url), version)
            # ChatService registers the hub as the store's commit listener.
            # +1: recovery asks for one event more than it replays, to know there is more.
            ops = ChatService(store, hub, recovery_limit=settings.limits.recovery_max_events + 1)
            app = create_app(settings, ops, verifier)
        broker = BrokerServer(settings, hub, verifier, ops=ops)
        async with trio.open_nursery() as nursery:
            ws_port: int = await nursery.start(broker.serve)
            log.info("broker listening on ws://%s:%d/ws", settings.host, ws_port)
            http_port = None
            http_scope = trio.CancelScope()
            if app is not None:
                from parley.api.server import serve_http

                async def http(task_status: trio.TaskStatus[list[str]]) -> None:
                    with http_scope:
                        await serve_http(app, settings, task_status=task_status)

                binds: list[str] = await nursery.start(http)
                http_port = int(binds[0].rsplit(":", 1)[1])
                log.info("REST API on %s", binds[0])
            task_status.started(Running(broker, ws_port, http_port))
            await broker.stopped.wait()
            http_scope.cancel()


#: Collector thresholds for a long-running server process. Every connection holds a few
#: thousand long-lived objects; with the default (700, 10, 10) the collector walks them all
#: in full collections several times a second under load, which the bench measured as most
#: of the broker's CPU and its p99 latency. Fewer young collections, and rarer full ones,
#: keep cycle collection without that cost.
GC_THRESHOLDS = (50_000, 50, 100)


def tune_gc() -> None:
    """Move everything alive after startup out of the collector's sight (``gc.freeze``)
    and raise the thresholds (:data:`GC_THRESHOLDS`)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


async def run(settings: Settings, *, broker_only: bool = False) -> None:
    """Serve until SIGINT/SIGTERM."""
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:
            running: Running = await nursery.start(
                partial(serve, settings, broker_only=broker_only)
            )
            tune_gc()
            async for signum in signals:
                log.info("signal %s: shutting down", signal.Signals(signum).name)
                break
            running.shutdown()


def _redact(url: str) -> str:
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url
