"""Prometheus metrics (``/metrics``), collected without touching the hot paths.

Most series are read at scrape time from counters the parts already keep: the hub's
publishes and deliveries and its subscription count, the broker server's connections
(accepted, open, closed by close code) and each open connection's queued outbound bytes,
the store's batches, queued writes and read-pool use. Latencies are observed where one
call already ends: a service publish or a channel-event fan-out (the :class:`EventSink`
handed to the domain is wrapped), a post (:class:`MeteredPoster`), a group-commit batch
(``GroupCommitWriter.on_batch``) and a REST request (``OpsEndpoints.request_done``).
Publishing never awaits for metrics and nothing is done per delivery.

Each :class:`Metrics` has its own registry (tests build many services in one process).

A cross-node bus is not built yet. When it is, its collector goes in
:meth:`ServiceCollector.collect` beside the broker's: ``parley_bus_messages_total``
(``direction`` = ``sent`` | ``received``) and ``parley_bus_connected`` (0/1); readiness
already has its slot (``parley.ops.health.Readiness``, ``bus``).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from outcome import Error, Outcome, Value
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from parley.core.errors import ClientError
from parley.core.ports import EventSink
from parley.core.records import ChannelEvent, Draft, PostResult
from parley.domain.hooks import PostHooks
from parley.domain.posting import Poster
from parley.store import SqlStore, Store

if TYPE_CHECKING:
    from parley.broker.hub import Hub
    from parley.broker.server import BrokerServer

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

#: Seconds: fan-out is microseconds to milliseconds; posts and requests up to seconds.
FAST_BUCKETS = (1e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 0.01, 0.025, 0.05, 0.1)
SLOW_BUCKETS = (5e-4, 1e-3, 2.5e-3, 5e-3, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)


class Metrics:
    """The process's metrics; :meth:`render` is the ``/metrics`` body."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.publish_seconds = Histogram(
            "parley_publish_seconds",
            "Fan-out time of a service publish or a committed channel event (kind).",
            ["kind"],
            buckets=FAST_BUCKETS,
            registry=r,
        )
        self.posts = Counter(
            "parley_posts", "Posts through the post pipeline, by outcome.", ["outcome"], registry=r
        )
        self.post_seconds = Histogram(
            "parley_post_seconds",
            "Time of a post: checks, the group-commit write, fan-out and hooks.",
            buckets=SLOW_BUCKETS,
            registry=r,
        )
        self.commit_batch_size = Histogram(
            "parley_store_commit_batch_size",
            "Writes per group-commit batch (one transaction).",
            buckets=BATCH_BUCKETS,
            registry=r,
        )
        self.commit_seconds = Histogram(
            "parley_store_commit_seconds",
            "Time of one group-commit batch in the writer thread, commit included.",
            buckets=SLOW_BUCKETS,
            registry=r,
        )
        self.http_requests = Counter(
            "parley_http_requests",
            "REST requests by route, method and status.",
            ["route", "method", "status"],
            registry=r,
        )
        self.http_seconds = Histogram(
            "parley_http_request_seconds",
            "REST request latency by route and method.",
            ["route", "method"],
            buckets=SLOW_BUCKETS,
            registry=r,
        )
        self._collector = ServiceCollector()
        r.register(self._collector)

    def watch(
        self,
        *,
        hub: Hub | None = None,
        server: BrokerServer | None = None,
        store: SqlStore | None = None,
    ) -> None:
        """Read these parts' own counters at every scrape; time the store's batches."""
        c = self._collector
        if hub is not None:
            c.hub = hub
        if server is not None:
            c.server = server
        if store is not None:
            c.store = store
            store.writer.on_batch = self.batch_committed

    def batch_committed(self, size: int, seconds: float) -> None:
        self.commit_batch_size.observe(size)
        self.commit_seconds.observe(seconds)

    def request_done(self, route: str, method: str, status: int, seconds: float) -> None:
        self.http_requests.labels(route, method, str(status)).inc()
        self.http_seconds.labels(route, method).observe(seconds)

    def sink(self, sink: EventSink) -> EventSink:
        """``sink``, its publishes timed."""
        return MeteredSink(sink, self)

    def poster(self, store: Store, hooks: PostHooks) -> Poster:
        return MeteredPoster(store, hooks, self)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class MeteredSink:
    """An :class:`EventSink` that times each publish of the sink it wraps."""

    def __init__(self, sink: EventSink, metrics: Metrics) -> None:
        self._sink = sink
        self._service = metrics.publish_seconds.labels("service")
        self._channel = metrics.publish_seconds.labels("channel")
        self._ephemeral = metrics.publish_seconds.labels("ephemeral")

    def publish(
        self, topic: str, data: Any, *, ts: datetime | None = None, members_of: str | None = None
    ) -> int:
        started = time.perf_counter()
        n = self._sink.publish(topic, data, ts=ts, members_of=members_of)
        self._service.observe(time.perf_counter() - started)
        return n

    def publish_channel_events(self, events: Sequence[ChannelEvent]) -> None:
        started = time.perf_counter()
        self._sink.publish_channel_events(events)
        self._channel.observe(time.perf_counter() - started)

    def publish_channel_ephemeral(self, org: str, channel_id: str, event: str, data: Any) -> int:
        started = time.perf_counter()
        n = self._sink.publish_channel_ephemeral(org, channel_id, event, data)
        self._ephemeral.observe(time.perf_counter() - started)
        return n


class MeteredPoster(Poster):
    """The post pipeline, each post counted by outcome and timed."""

    def __init__(self, store: Store, hooks: PostHooks, metrics: Metrics) -> None:
        super().__init__(store, hooks)
        self._ok = metrics.posts.labels("ok")
        self._refused = metrics.posts.labels("refused")
        self._failed = metrics.posts.labels("error")
        self._seconds = metrics.post_seconds

    async def post(
        self,
        draft: Draft,
        *,
        allow_empty: bool = False,
        service: bool = False,
        checked_text: bool = False,
    ) -> PostResult:
        started = time.perf_counter()
        try:
            result = await super().post(
                draft, allow_empty=allow_empty, service=service, checked_text=checked_text
            )
        except ClientError:
            self._refused.inc()
            raise
        except Exception:
            self._failed.inc()
            raise
        self._ok.inc()
        self._seconds.observe(time.perf_counter() - started)
        return result

    async def post_many(self, drafts: Sequence[Draft]) -> list[Outcome[PostResult]]:
        started = time.perf_counter()
        try:
            results = await super().post_many(drafts)
        except Exception:
            self._failed.inc(len(drafts))
            raise
        seconds = time.perf_counter() - started
        for result in results:
            if isinstance(result, Value):
                self._ok.inc()
                self._seconds.observe(seconds)
            elif isinstance(result, Error) and isinstance(result.error, ClientError):
                self._refused.inc()
            else:
                self._failed.inc()
        return results


class ServiceCollector(Collector):
    """Series read at scrape time from the counters the parts keep."""

    def __init__(self) -> None:
        self.hub: Hub | None = None
        self.server: BrokerServer | None = None
        self.store: SqlStore | None = None

    def collect(self) -> Iterator[Metric]:
        hub, server, store = self.hub, self.server, self.store
        if server is not None:
            yield _counter(
                "parley_connections_accepted", "WebSocket connections accepted.", server.accepted
            )
            yield _gauge(
                "parley_connections_open", "WebSocket connections open.", len(server.connections)
            )
            closed = CounterMetricFamily(
                "parley_connections_closed",
                "WebSocket connections closed, by the close code the server sent "
                "(peer: the client closed first, or the transport broke).",
                labels=["code"],
            )
            for code, n in sorted(server.closed_by_code.items()):
                closed.add_metric([code], n)
            yield closed
            yield _counter(
                "parley_slow_consumer_disconnects",
                "Connections closed 4000 because their outbound queue was full.",
                server.closed_by_code.get("4000", 0),
            )
            queued = 0
            for conn in list(server.connections):
                if conn.client is not None:
                    queued += conn.client.outbox.queued_bytes
            yield _gauge(
                "parley_outbox_bytes", "Outbound bytes queued over all connections.", queued
            )
        if hub is not None:
            yield _counter(
                "parley_publishes",
                "Events published to the hub (service, client and channel events).",
                hub.published,
            )
            yield _counter(
                "parley_deliveries", "Event frames queued to connections.", hub.delivered
            )
            yield _gauge("parley_subscriptions", "Subscriptions held.", hub.subscription_count)
        if store is not None:
            writer = store.writer
            yield _counter(
                "parley_store_commits", "Group-commit batches committed.", writer.batches
            )
            yield _counter("parley_store_writes", "Writes committed.", writer.requests)
            yield _gauge("parley_store_write_queue", "Writes waiting for a batch.", writer.queued)
            yield _gauge(
                "parley_store_read_pool_size", "Read connections in the pool.", store.readers.size
            )
            yield _gauge(
                "parley_store_read_pool_in_use",
                "Read connections running a read.",
                store.readers.in_use,
            )


def _counter(name: str, doc: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name, doc, value=value)


def _gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, value=value)
