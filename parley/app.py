"""Wiring: one trio process runs the broker and, unless broker-only, the store and REST API."""

from __future__ import annotations

import logging
import signal
from contextlib import AsyncExitStack

import trio

from broker.auth import TokenVerifier
from broker.hub import Hub
from broker.server import BrokerServer
from parley.config import Settings

log = logging.getLogger("parley")


async def run(
    settings: Settings,
    *,
    broker_only: bool = False,
    task_status: trio.TaskStatus[BrokerServer] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve until SIGINT/SIGTERM (or cancellation)."""
    settings, from_data_dir = settings.with_secret()
    if from_data_dir:
        log.warning(
            "no PARLEY_JWT_SECRET set: using the secret kept in %s",
            settings.data_dir / "jwt_secret",
        )
    hub = Hub()
    verifier = TokenVerifier(settings)
    async with AsyncExitStack() as stack, trio.open_nursery() as nursery:
        ops = None
        app = None
        if not broker_only:
            from api.app import create_app
            from parley.chat import ChatService
            from store import open_store

            url = settings.effective_database_url
            if url.startswith("sqlite"):
                settings.data_dir.mkdir(parents=True, exist_ok=True)
            store = await stack.enter_async_context(open_store(url))
            version = await store.migrate()
            log.info("store %s at schema version %d", _redact(url), version)
            store.set_commit_listener(hub.publish_channel_events)
            ops = ChatService(store, hub, recovery_limit=settings.limits.recovery_max_events)
            app = create_app(settings, ops, verifier)
        broker = BrokerServer(settings, hub, verifier, ops=ops)
        ws_port = await nursery.start(broker.serve)
        log.info("broker listening on ws://%s:%d/ws", settings.host, ws_port)
        http_scope = trio.CancelScope()
        if app is not None:
            from api.server import serve_http

            async def http() -> None:
                with http_scope:
                    await serve_http(app, settings)

            nursery.start_soon(http)
            log.info("REST API on http://%s:%d", settings.host, settings.http_port)
        task_status.started(broker)
        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async for signum in signals:
                log.info("signal %s: shutting down", signal.Signals(signum).name)
                break
        broker.shutdown()
        http_scope.cancel()


def _redact(url: str) -> str:
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url
