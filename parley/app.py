"""The composition root: the one place that builds the store, the hub, the services and
the servers, and hands each its collaborators (docs/architecture.md)."""

from __future__ import annotations

import gc
import hashlib
import logging
import os
import secrets
import signal
import socket
import time
import uuid
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import trio
from quart_trio import QuartTrio

from parley.api.app import create_app
from parley.api.server import serve_http
from parley.api.webapp import DEV_TOKEN_TTL, WebAppConfig
from parley.bridges.matrix import MatrixBridge
from parley.bridges.xmpp.component import XmppBridge
from parley.broker.auth import TokenVerifier, issue_token
from parley.broker.bus import MemoryBackend, NatsBackend
from parley.broker.feeds import HubFeeds
from parley.broker.hub import Hub
from parley.broker.natsclient import NatsOptions
from parley.broker.server import BrokerServer
from parley.core.claims import Claims
from parley.core.ports import (
    BrokerBackend,
    ConnectionWatch,
    EventSink,
    LiveFeeds,
    PresenceLookup,
    SessionControl,
    StreamRelay,
    TokenCheck,
)
from parley.core.records import ChannelEvent, Network
from parley.domain.accounts import AccountService
from parley.domain.blocks import BlockService
from parley.domain.bookmarks import BookmarkService
from parley.domain.bots import BotService
from parley.domain.channels import ChannelService
from parley.domain.edits import EditService
from parley.domain.events import EventService
from parley.domain.federation import FederationService
from parley.domain.files import FileService
from parley.domain.hooks import PostHooks
from parley.domain.idempotency import IdempotencyService
from parley.domain.jobs import JobScheduler
from parley.domain.locks import LockService
from parley.domain.matrix import MatrixInbound
from parley.domain.members import MemberService
from parley.domain.mentions import MentionService
from parley.domain.messages import MessageService
from parley.domain.notes import NoteService
from parley.domain.notify import build_notifications
from parley.domain.pins import PinService
from parley.domain.posting import Poster
from parley.domain.previews import PreviewService
from parley.domain.profiles import ProfileService
from parley.domain.ratelimits import RestRateLimits
from parley.domain.reactions import ReactionService
from parley.domain.receipts import ReceiptService
from parley.domain.relay import Outbox
from parley.domain.reminders import ReminderService
from parley.domain.retention import RetentionService
from parley.domain.scheduled import ScheduledMessageService
from parley.domain.search import SearchService
from parley.domain.services import Services
from parley.domain.shares import ShareService
from parley.domain.streams import StreamService
from parley.domain.tasks import TaskService
from parley.domain.teams import TeamService
from parley.domain.threads import ThreadService
from parley.domain.webhooks import WebhookService, WebhookTap
from parley.domain.wsops import WebSocketOps
from parley.ops.health import Ops, Readiness
from parley.ops.metrics import Metrics
from parley.settings import ClusterConfig, Settings, redact_url
from parley.store import SqlStore, Store, codec, open_store, sql
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
    sessions: SessionControl | None = None,
    metrics: Metrics | None = None,
    clock: Callable[[], float] = time.time,
    connections: ConnectionWatch | None = None,
    live: LiveFeeds | None = None,
    relay: StreamRelay | None = None,
) -> Services:
    """Wire the domain over an open store: every service takes the store and what it
    publishes to, never another service. Committed channel-log events go from the store
    to ``sink`` in seq order; every post, however it is made, goes through one
    :class:`Poster` and runs the same hooks. ``sessions`` (the hub) closes a deleted
    account's open connections. With ``metrics``, publishes and posts are timed. ``clock``:
    wall-clock seconds of the notification delays (tests tie it to trio's clock).
    ``connections`` (the hub) tells the entity locks when a holder's last connection
    closes; ``live`` (the hub's feeds) carries the GraphQL subscriptions; ``relay`` (the
    cluster link) forwards a token stream's calls to the node that holds it."""
    if metrics is not None:
        sink = metrics.sink(sink)
    notify, sink = build_notifications(
        store,
        sink,
        settings.notifications,
        unsubscribe_key=_unsubscribe_key(settings),
        clock=clock,
        presence=presence,
    )  # ``sink`` now also hands every published event to the notification rules
    jobs = JobScheduler(store, settings.jobs)
    # Every event also goes to the org's matching outgoing webhooks (docs/automation.md).
    webhooks = WebhookService(store, jobs, settings.webhooks)
    sink = WebhookTap(sink, webhooks)
    hooks = PostHooks()
    poster = Poster(store, hooks) if metrics is None else metrics.poster(store, hooks)
    blobs = LocalBlobs(settings.blob_dir)
    federation = FederationService(
        store, poster, settings.federation, blobs=blobs, files=settings.files, sink=sink
    )
    outbox = Outbox(store, federation, settings.federation)
    publish = sink.publish_channel_events

    def committed(events: Sequence[ChannelEvent]) -> None:
        publish(events)
        outbox.committed(events)  # wakes linked channels' relays; never blocks

    store.set_commit_listener(committed)
    matrix = None
    if settings.federation.matrix is not None:
        matrix = MatrixInbound(federation, settings.federation.matrix)
    mentions = MentionService(store, sink)
    previews = PreviewService(store, sink, settings.previews, spawn)
    bots = BotService(store, jobs, settings.webhooks)
    hooks.add(mentions.after_post)
    hooks.add(previews.after_post)
    hooks.add(notify.chat.after_post)
    hooks.add(bots.after_post)  # bots that answer (docs/automation.md)
    accounts = AccountService(store, blobs, sessions=sessions)
    # Reminders and due tasks become notifications (docs/automation.md, The notify seam).
    reminders = ReminderService(store, sink, jobs, notify=notify.service.notice)
    return Services(
        # +1: recovery asks for one event more than it replays, to know there is more.
        channels=ChannelService(store, recovery_limit=settings.limits.recovery_max_events + 1),
        members=MemberService(store),
        messages=MessageService(store, poster),
        receipts=ReceiptService(store, sink),
        profiles=ProfileService(store),
        events=EventService(sink),
        streams=StreamService(store, sink, poster, relay=relay),
        threads=ThreadService(store, poster),
        shares=ShareService(store, poster),
        edits=EditService(store),
        reactions=ReactionService(store),
        pins=PinService(store),
        bookmarks=BookmarkService(store),
        mentions=mentions,
        teams=TeamService(store),
        tasks=TaskService(store, sink, after_create=reminders.task_created),
        files=FileService(store, blobs, settings.files, poster, link_key=_link_key(settings)),
        search=SearchService(store),
        previews=previews,
        blocks=BlockService(store),
        accounts=accounts,
        retention=RetentionService(store, blobs),
        idempotency=IdempotencyService(store),
        federation=federation,
        notify=notify,
        notes=NoteService(store, sink),
        locks=LockService(store, sink, connections=connections),
        jobs=jobs,
        scheduled=ScheduledMessageService(store, poster, jobs),
        reminders=reminders,
        webhooks=webhooks,
        bots=bots,
        verify=accounts.guard(verify),  # a deleted account's tokens are refused
        presence=presence,
        live=live,
        rate_limits=RestRateLimits(settings.rate_limits),
        matrix=matrix,
        outbox=outbox,
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


def _link_key(settings: Settings) -> bytes | None:
    """The key that signs file download links, derived from the JWT secret so that every
    node of a deployment accepts every node's links; none (a random key per process) when
    tokens are checked with a public key only."""
    if not settings.jwt_secret:
        return None
    return hashlib.sha256(b"parley file download links\0" + settings.jwt_secret.encode()).digest()


def _unsubscribe_key(settings: Settings) -> bytes:
    """The key that signs the unsubscribe links of notification emails, derived from the
    JWT secret (every node accepts every node's links); random per process without one."""
    if not settings.jwt_secret:
        return secrets.token_bytes(32)
    return hashlib.sha256(b"parley email unsubscribe\0" + settings.jwt_secret.encode()).digest()


@dataclass(frozen=True)
class Running:
    """What :func:`serve` started. ``shutdown()`` starts a graceful shutdown: ``/readyz``
    turns unready at once; after ``drain_delay`` (or at a second ``shutdown()``) clients
    are closed with 1001 and the servers stop."""

    broker: BrokerServer
    ws_port: int
    http_port: int | None
    readiness: Readiness = field(default_factory=Readiness)
    stopping: trio.Event = field(default_factory=trio.Event)
    stop_now: trio.Event = field(default_factory=trio.Event)

    def shutdown(self) -> None:
        if self.stopping.is_set():
            self.stop_now.set()
        self.stopping.set()


class StartupError(Exception):
    """Serving could not start. The message is one line that says why; ``parley serve``
    prints it and exits 1, before anything said "listening"."""


def startup_error(exc: BaseException) -> StartupError | None:
    """The :class:`StartupError` inside ``exc``, however deep in exception groups."""
    if isinstance(exc, StartupError):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            if (found := startup_error(inner)) is not None:
                return found
    return None


def _leaf(exc: BaseException, kind: type[BaseException]) -> BaseException | None:
    if isinstance(exc, kind):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            if (found := _leaf(inner, kind)) is not None:
                return found
    return None


def one_line(exc: BaseException) -> str:
    """One line: an OSError's strerror, else the message with its whitespace folded."""
    if isinstance(exc, OSError) and exc.strerror:
        text = exc.strerror
        if exc.filename:
            text += f": {exc.filename}"
        return text
    return " ".join(str(exc).split()) or type(exc).__name__


#: Backoff between attempts to reach the database at start: first delay, doubling, capped.
DB_RETRY_FIRST = 0.5
DB_RETRY_MAX = 5.0
#: PostgreSQL states worth waiting out: connection exceptions (class 08), "the database
#: system is starting up", too many connections. Others (bad password, no such database)
#: fail at once.
_RETRY_SQLSTATES = ("08", "57P03", "53300")


def retryable(exc: BaseException) -> bool:
    import psycopg

    if not isinstance(exc, psycopg.OperationalError):
        return False
    state = exc.sqlstate
    return state is None or state.startswith(_RETRY_SQLSTATES)


StoreOpener = Callable[[str], AbstractAsyncContextManager[SqlStore]]


async def open_store_retrying(
    stack: AsyncExitStack, url: str, patience: float, *, opener: StoreOpener = open_store
) -> SqlStore:
    """Open the store on ``stack``; while the database is unreachable, try again with
    backoff for up to ``patience`` seconds. Failure is a :class:`StartupError`."""
    deadline = trio.current_time() + patience
    delay = DB_RETRY_FIRST
    where = redact_url(url)
    while True:
        try:
            return await stack.enter_async_context(opener(url))
        except Exception as exc:
            if not retryable(exc):
                raise StartupError(f"cannot open the database {where}: {one_line(exc)}") from exc
            remaining = deadline - trio.current_time()
            if remaining <= 0:
                raise StartupError(
                    f"database {where} unreachable for {patience:g}s: {one_line(exc)}"
                ) from exc
            if delay == DB_RETRY_FIRST:  # once, not at every attempt
                log.warning(
                    "database %s unreachable, retrying for up to %gs: %s",
                    where,
                    patience,
                    one_line(exc),
                )
        await trio.sleep(min(delay, remaining))
        delay = min(delay * 2, DB_RETRY_MAX)


def _keep_secret(settings: Settings) -> tuple[Settings, str]:
    try:
        settings, source = settings.with_secret()
    except OSError as exc:
        raise StartupError(
            f"cannot keep the JWT secret in {settings.secret_path}: {one_line(exc)}"
        ) from exc
    if source != "configured":
        log.warning(
            "no PARLEY_JWT_SECRET set: %s the JWT secret kept in %s",
            "generated" if source == "generated" else "using",
            settings.secret_path,
        )
    try:
        settings, vapid_source = settings.with_vapid_key()
    except OSError as exc:
        raise StartupError(
            f"cannot keep the VAPID key in {settings.vapid_path}: {one_line(exc)}"
        ) from exc
    if vapid_source == "generated":
        log.info("Web Push: generated the VAPID key kept in %s", settings.vapid_path)
    return settings, source


def _webapp_config(settings: Settings, secret_source: str) -> WebAppConfig:
    """The web app's boot config; its "sign in as" only with the secret this server
    generated (a development server: docs/clients.md explains why)."""
    sign_in = None
    if secret_source != "configured" and settings.jwt_secret:
        secret = settings.jwt_secret

        def sign_in(sub: str, org: str) -> str:
            return issue_token(secret, sub=sub, org=org, ttl=DEV_TOKEN_TTL)

    return WebAppConfig(
        ws_port=settings.ws_port,
        http_port=settings.http_port,
        meeting_url_template=settings.meeting_url_template,
        dev_sign_in=sign_in,
    )


async def serve(
    settings: Settings,
    *,
    broker_only: bool = False,
    task_status: trio.TaskStatus[Running] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve until ``Running.shutdown()`` (or cancellation). No signal handling here, so it
    also runs in a thread (tests). Any failure before both servers listen is a
    :class:`StartupError` (possibly inside exception groups: see :func:`startup_error`)."""
    settings, secret_source = _keep_secret(settings)
    webapp = _webapp_config(settings, secret_source)
    hub = Hub(settings.presence)
    backend = make_backend(settings.cluster)
    try:
        verifier = settings.token_verifier()
    except ValueError as exc:
        raise StartupError(f"JWT settings: {exc}") from None
    metrics = Metrics()
    readiness = Readiness()
    endpoints = Ops(readiness, metrics)
    async with trio.open_nursery() as background, AsyncExitStack() as stack:
        ops = None
        app = None
        services: Services | None = None
        node: Node | None = None
        store: SqlStore | None = None
        if not broker_only:
            url = settings.effective_database_url
            if url.startswith("sqlite"):
                _make_data_dir(settings)
            store = await open_store_retrying(
                stack,
                url,
                settings.database_connect_timeout,
                opener=partial(
                    open_store,
                    statement_timeout=settings.database_statement_timeout,
                    sqlite_synchronous=settings.sqlite_synchronous,
                ),
            )
            version = await _migrate(store, url)
            log.info("store %s at schema version %d", redact_url(url), version)
            readiness.store = store
            node = await _register_node(store, settings, clustered=backend.clustered)
            background.start_soon(_heartbeat, store, node, settings.cluster.node_heartbeat)
            hub.join_cluster(backend, StoreLog(store), gap_wait=settings.cluster.gap_wait)
            metrics.watch(store=store)
            services = build_services(
                settings,
                store,
                hub,
                verify=verifier.verify,
                spawn=background.start_soon,
                presence=hub.presence,
                sessions=hub,  # closes a deleted account's open connections
                metrics=metrics,
                connections=hub,  # releases a gone holder's entity locks
                live=HubFeeds(hub),  # GraphQL subscriptions ride on the hub
                relay=hub.link,  # a stream's calls reach the node holding it
            )
            ops = WebSocketOps(services)
            app = create_app(
                services, allowed_origins=settings.allowed_origins, ops=endpoints, webapp=webapp
            )
            # Privacy (docs/privacy.md): deleted accounts are known before serving, and
            # their tokens are refused by the broker too.
            await services.accounts.load()
            verifier = AccountGuardedVerifier(verifier, services.accounts.refuse)
            # Client publishes (WS ``publish``) reach the notification rules too.
            hub.publish_observers.append(services.notify.events.offer_published)
            hub.publish_observers.append(services.webhooks.offer)  # and the webhooks
        if hub.link is None:  # broker only: pub/sub over the bus, no channel log
            hub.join_cluster(backend, NO_LOG, gap_wait=settings.cluster.gap_wait)
        if hub.link is not None:
            readiness.bus = backend.check
            await background.start(backend.run)
            background.start_soon(hub.link.run)
        broker = BrokerServer(settings.broker, hub, verifier, ops=ops, ops_endpoints=endpoints)
        metrics.watch(hub=hub, server=broker)
        async with trio.open_nursery() as nursery:
            ws_port: int = await _listen(
                nursery, broker.serve, f"{settings.host}:{settings.ws_port}", "ws_port"
            )
            webapp.ws_port = ws_port
            http_port = None
            http_url = ""
            http_scope = trio.CancelScope()
            if app is not None:

                async def http(app: QuartTrio, task_status: trio.TaskStatus[list[str]]) -> None:
                    with http_scope:
                        await serve_http(
                            app,
                            host=settings.host,
                            port=settings.http_port,
                            shutdown_timeout=settings.shutdown_timeout,
                            access_log=settings.access_log,
                            task_status=task_status,
                        )

                where = f"{settings.host}:{settings.http_port}"
                binds: list[str] = await _listen(nursery, partial(http, app), where, "http_port")
                http_url = binds[0]
                http_port = int(http_url.rsplit(":", 1)[1])
                webapp.http_port = http_port
            log.info("broker listening on ws://%s:%d/ws", settings.host, ws_port)
            if http_url:
                log.info("REST API listening on %s", http_url)
            if services is not None:  # the privacy jobs, once both servers are up
                background.start_soon(services.accounts.run)
                background.start_soon(services.retention.run)
                await _start_federation(background, settings, services)
                background.start_soon(services.notify.run)
                background.start_soon(services.locks.run)
                background.start_soon(services.jobs.run)  # docs/automation.md
                background.start_soon(services.webhooks.run)
                background.start_soon(services.bots.run)
            running = Running(broker, ws_port, http_port, readiness)
            task_status.started(running)
            await running.stopping.wait()
            readiness.begin_shutdown()
            if settings.drain_delay > 0:
                log.info(
                    "shutting down: /readyz unready; closing connections in %gs",
                    settings.drain_delay,
                )
                with trio.move_on_after(settings.drain_delay):
                    await running.stop_now.wait()
            broker.shutdown()
            await broker.stopped.wait()
            http_scope.cancel()
        if node is not None and store is not None:
            await _deregister_node(store, node)
        background.cancel_scope.cancel()  # preview fetches still running; then the store closes


def make_backend(config: ClusterConfig) -> BrokerBackend:
    """NATS when servers are configured, else one node in memory."""
    if not config.enabled:
        return MemoryBackend()
    return NatsBackend(
        NatsOptions(
            servers=config.nats_servers,
            token=config.nats_token or None,
            user=config.nats_user or None,
            password=config.nats_password or None,
            creds_file=config.nats_creds_file,
            tls=config.nats_tls,
            tls_ca_file=config.nats_tls_ca_file,
            tls_cert_file=config.nats_tls_cert_file,
            tls_key_file=config.nats_tls_key_file,
            name=f"parley {socket.gethostname()} {os.getpid()}",
        )
    )


class StoreLog:
    """:class:`~parley.core.ports.ChannelLog` over the store: the gap fill's reads."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def events_after(
        self, org: str, channel_id: str, after_seq: int, limit: int
    ) -> list[ChannelEvent]:
        return await self.store.read(sql.log.events_after, org, channel_id, after_seq, limit=limit)


class _NoLog:
    async def events_after(
        self, org: str, channel_id: str, after_seq: int, limit: int
    ) -> list[ChannelEvent]:
        return []


NO_LOG = _NoLog()


@dataclass(frozen=True)
class Node:
    node_id: str
    host: str


#: A node is live while its last heartbeat is at most this many intervals old.
LIVE_HEARTBEATS = 3


def node_identity(settings: Settings) -> str:
    """Where and how this node runs: a restart of the same node has the same identity
    (two nodes with fixed ports cannot both run with the same one on one host)."""
    where = settings.data_dir.resolve()
    return f"{socket.gethostname()}|{where}|{settings.ws_port}|{settings.http_port}"


async def _register_node(store: Store, settings: Settings, *, clustered: bool) -> Node:
    """Register this node; refuse to start beside another live node without a bus."""

    interval_us = int(settings.cluster.node_heartbeat * 1_000_000)
    since = codec.now_us() - LIVE_HEARTBEATS * interval_us
    identity = node_identity(settings)
    others = await store.read(sql.nodes.live_nodes, since_us=since, other_than=identity)
    if others and not clustered:
        raise StartupError(
            f"another Parley node ({others[0].host}) is live on this database: set "
            "PARLEY_NATS_URL (or --nats-url) on every node to run them as a cluster "
            "(docs/cluster.md)"
        )
    for other in others:
        if not other.bus:
            log.warning(
                "node %s on this database runs without a bus: it sees only its own events",
                other.host,
            )
    node = Node(uuid.uuid4().hex[:12], f"{socket.gethostname()}:{os.getpid()}")
    await store.write(
        sql.nodes.register,
        node.node_id,
        identity,
        node.host,
        bus=clustered,
        forget_before_us=since - 100 * interval_us,
    )
    return node


async def _heartbeat(store: Store, node: Node, interval: float) -> None:
    while True:
        await trio.sleep(interval)
        try:
            await store.write(sql.nodes.heartbeat, node.node_id)
        except Exception as exc:  # an outage: the next beat tries again
            log.warning("node heartbeat failed: %s", one_line(exc))


async def _deregister_node(store: Store, node: Node) -> None:
    with trio.CancelScope(shield=True), trio.move_on_after(2.0):
        try:
            await store.write(sql.nodes.deregister, node.node_id)
        except Exception as exc:
            log.warning("could not deregister the node: %s", one_line(exc))


async def _start_federation(nursery: trio.Nursery, settings: Settings, services: Services) -> None:
    """The configured bridges, then the outbox that drains every link through them."""
    outbox = services.outbox
    if outbox is None:
        return
    cfg = settings.federation
    if cfg.matrix is not None:
        matrix = MatrixBridge(cfg.matrix, services.federation)
        await nursery.start(matrix.run)
        outbox.relays[Network.MATRIX] = matrix
        if services.matrix is not None:
            services.matrix.fetch_media = matrix.fetch_media
    if cfg.xmpp is not None:
        xmpp = XmppBridge(cfg.xmpp, services.federation)
        await nursery.start(xmpp.run)
        outbox.relays[Network.XMPP] = xmpp
    await nursery.start(outbox.run)


async def migrate(settings: Settings) -> int:
    """``parley migrate``: apply pending migrations; return the schema version. Failure,
    after the same retries as :func:`serve`, is a :class:`StartupError`."""
    url = settings.effective_database_url
    try:
        async with AsyncExitStack() as stack:
            if url.startswith("sqlite"):
                _make_data_dir(settings)
            opener = partial(open_store, readers=1, sqlite_synchronous=settings.sqlite_synchronous)
            store = await open_store_retrying(
                stack, url, settings.database_connect_timeout, opener=opener
            )
            return await _migrate(store, url)
    except BaseExceptionGroup as group:
        if (error := startup_error(group)) is not None:
            raise error from error.__cause__
        raise


async def _migrate(store: SqlStore, url: str) -> int:
    try:
        return await store.migrate()
    except Exception as exc:
        raise StartupError(
            f"database migration failed on {redact_url(url)}: {one_line(exc)}"
        ) from exc


def _make_data_dir(settings: Settings) -> None:
    try:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StartupError(
            f"cannot create the data dir {settings.data_dir}: {one_line(exc)}"
        ) from exc


async def _listen(nursery: trio.Nursery, serve: Callable[..., Any], where: str, name: str) -> Any:
    """``nursery.start(serve)``; an address that cannot be bound is a StartupError."""
    try:
        return await nursery.start(serve)
    except BaseException as exc:
        error = _leaf(exc, OSError)
        if error is None:
            raise
        raise StartupError(f"cannot listen on {where} ({name}): {one_line(error)}") from exc


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
    """Serve until SIGINT/SIGTERM (a signal while still starting stops at once). A failure
    to start comes out as the :class:`StartupError` itself, not inside a group."""
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        try:
            async with trio.open_nursery() as nursery:
                running: list[Running] = []

                async def serve_then_stop(task_status: trio.TaskStatus[Running]) -> None:
                    await serve(settings, broker_only=broker_only, task_status=task_status)
                    nursery.cancel_scope.cancel()

                async def on_signal() -> None:
                    # The first signal starts a graceful shutdown (drain_delay, then 1001);
                    # a second one skips what is left of the drain delay.
                    async for signum in signals:
                        log.info("signal %s: shutting down", signal.Signals(signum).name)
                        if not running:
                            nursery.cancel_scope.cancel()
                            return
                        running[0].shutdown()

                nursery.start_soon(on_signal)
                running.append(await nursery.start(serve_then_stop))
                tune_gc()
        except BaseExceptionGroup as group:
            if (error := startup_error(group)) is not None:
                raise error from error.__cause__
            raise
