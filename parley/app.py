"""The composition root: the one place that builds the store, the hub, the services and
the servers, and hands each its collaborators (docs/architecture.md)."""

from __future__ import annotations

import gc
import logging
import signal
from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from functools import partial

import trio
from quart_trio import QuartTrio

from parley.api.app import create_app
from parley.api.server import serve_http
from parley.broker.auth import TokenVerifier
from parley.broker.hub import Hub
from parley.broker.server import BrokerServer
from parley.core.claims import Claims
from parley.core.ports import EventSink, PresenceLookup, TokenCheck
from parley.domain.accounts import AccountService
from parley.domain.blocks import BlockService
from parley.domain.bookmarks import BookmarkService
from parley.domain.channels import ChannelService
from parley.domain.edits import EditService
from parley.domain.events import EventService
from parley.domain.files import FileService
from parley.domain.hooks import PostHooks
from parley.domain.members import MemberService
from parley.domain.mentions import MentionService
from parley.domain.messages import MessageService
from parley.domain.pins import PinService
from parley.domain.posting import Poster
from parley.domain.previews import PreviewService
from parley.domain.profiles import ProfileService
from parley.domain.reactions import ReactionService
from parley.domain.receipts import ReceiptService
from parley.domain.retention import RetentionService
from parley.domain.search import SearchService
from parley.domain.services import Services
from parley.domain.shares import ShareService
from parley.domain.streams import StreamService
from parley.domain.tasks import TaskService
from parley.domain.teams import TeamService
from parley.domain.threads import ThreadService
from parley.domain.wsops import WebSocketOps
from parley.settings import SECRET_FILE, Settings
from parley.store import Store, open_store
from parley.store.blobs import LocalBlobs

log = logging.getLogger("parley")

#: Starts a background task: ``spawn(async_fn, *args)``.
Spawn = Callable[..., None]


def build_services(
    settings: Settings,
    store: Store,
    sink: EventSink,
    *,
    verify: TokenCheck,
    spawn: Spawn,
    presence: PresenceLookup | None = None,
) -> Services:
    """Wire the domain over an open store: every service takes the store and what it
    publishes to, never another service. Committed channel-log events go from the store
    to ``sink`` in seq order; every post, however it is made, goes through one
    :class:`Poster` and runs the same hooks."""
    store.set_commit_listener(sink.publish_channel_events)
    hooks = PostHooks()
    poster = Poster(store, hooks)
    mentions = MentionService(store, sink)
    previews = PreviewService(store, sink, settings.previews, spawn)
    hooks.add(mentions.after_post)
    hooks.add(previews.after_post)
    blobs = LocalBlobs(settings.blob_dir)
    accounts = AccountService(store, blobs)
    return Services(
        # +1: recovery asks for one event more than it replays, to know there is more.
        channels=ChannelService(store, recovery_limit=settings.limits.recovery_max_events + 1),
        members=MemberService(store),
        messages=MessageService(store, poster),
        receipts=ReceiptService(store, sink),
        profiles=ProfileService(store),
        events=EventService(sink),
        streams=StreamService(store, sink, poster),
        threads=ThreadService(store, poster),
        shares=ShareService(store, poster),
        edits=EditService(store),
        reactions=ReactionService(store),
        pins=PinService(store),
        bookmarks=BookmarkService(store),
        mentions=mentions,
        teams=TeamService(store),
        tasks=TaskService(store, sink),
        files=FileService(store, blobs, settings.files, poster),
        search=SearchService(store),
        previews=previews,
        blocks=BlockService(store),
        accounts=accounts,
        retention=RetentionService(store, blobs),
        verify=accounts.guard(verify),  # a deleted account's tokens are refused
        presence=presence,
    )


class AccountGuardedVerifier(TokenVerifier):
    """The broker's verifier, refusing a deleted account's tokens (``refuse`` raises
    :class:`AuthError`), so a deleted user cannot connect or re-authenticate."""

    def __init__(self, inner: TokenVerifier, refuse: Callable[[Claims], None]) -> None:
        self._inner = inner
        self._refuse = refuse

    def verify(self, token: str, *, now: float | None = None) -> Claims:
        claims = self._inner.verify(token, now=now)
        self._refuse(claims)
        return claims


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
    hub = Hub(settings.presence)
    verifier = settings.token_verifier()
    async with trio.open_nursery() as background, AsyncExitStack() as stack:
        ops = None
        app = None
        if not broker_only:
            url = settings.effective_database_url
            if url.startswith("sqlite"):
                settings.data_dir.mkdir(parents=True, exist_ok=True)
            store = await stack.enter_async_context(open_store(url))
            version = await store.migrate()
            log.info("store %s at schema version %d", _redact(url), version)
            services = build_services(
                settings,
                store,
                hub,
                verify=verifier.verify,
                spawn=background.start_soon,
                presence=hub.presence,
            )
            ops = WebSocketOps(services)
            app = create_app(services, allowed_origins=settings.allowed_origins)
            # Privacy (docs/privacy.md): deleted accounts are known before serving, and
            # their tokens are refused by the broker too; the two background jobs.
            await services.accounts.load()
            verifier = AccountGuardedVerifier(verifier, services.accounts.refuse)
            background.start_soon(services.accounts.run)
            background.start_soon(services.retention.run)
        broker = BrokerServer(settings.broker, hub, verifier, ops=ops)
        async with trio.open_nursery() as nursery:
            ws_port: int = await nursery.start(broker.serve)
            log.info("broker listening on ws://%s:%d/ws", settings.host, ws_port)
            http_port = None
            http_scope = trio.CancelScope()
            if app is not None:

                async def http(app: QuartTrio, task_status: trio.TaskStatus[list[str]]) -> None:
                    with http_scope:
                        await serve_http(
                            app,
                            host=settings.host,
                            port=settings.http_port,
                            shutdown_timeout=settings.shutdown_timeout,
                            task_status=task_status,
                        )

                binds: list[str] = await nursery.start(http, app)
                http_port = int(binds[0].rsplit(":", 1)[1])
                log.info("REST API on %s", binds[0])
            task_status.started(Running(broker, ws_port, http_port))
            await broker.stopped.wait()
            http_scope.cancel()
        background.cancel_scope.cancel()  # preview fetches still running; then the store closes


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
