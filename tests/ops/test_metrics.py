"""Metrics: series read from the parts' own counters at scrape time, and timings."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from parley.broker.hub import Hub
from parley.core.records import Draft
from parley.ops.metrics import Metrics
from parley.store import SqlStore
from tests.support.api import RecordingSink, make_services
from tests.support.broker import make_conn


def samples(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(metrics.render().decode()):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(metrics: Metrics, name: str, **labels: str) -> float:
    return samples(metrics).get((name, tuple(sorted(labels.items()))), 0.0)


def test_hub_counters_are_read_at_scrape_time() -> None:
    hub = Hub()
    metrics = Metrics()
    metrics.watch(hub=hub)
    conn = make_conn("alice")
    hub.attach(conn.client, loading=False)
    hub.subscribe(conn.client, "t.>", ["t", ">"])
    assert value(metrics, "parley_subscriptions") == 1
    assert value(metrics, "parley_publishes_total") == 0
    sink = metrics.sink(hub)
    assert sink.publish("t.a", {"n": 1}) == 1
    assert value(metrics, "parley_publishes_total") == 1
    assert value(metrics, "parley_deliveries_total") == 1
    assert value(metrics, "parley_publish_seconds_count", kind="service") == 1


def test_requests_by_route_and_status() -> None:
    metrics = Metrics()
    metrics.request_done("/v1/channels/<channel_id>", "GET", 200, 0.01)
    metrics.request_done("/v1/channels/<channel_id>", "GET", 404, 0.02)
    metrics.request_done("/v1/channels/<channel_id>", "GET", 200, 0.01)
    route = {"route": "/v1/channels/<channel_id>", "method": "GET"}
    assert value(metrics, "parley_http_requests_total", status="200", **route) == 2
    assert value(metrics, "parley_http_requests_total", status="404", **route) == 1
    assert value(metrics, "parley_http_request_seconds_count", **route) == 3


async def test_posts_and_group_commits(store: SqlStore) -> None:
    metrics = Metrics()
    metrics.watch(store=store)
    sink = RecordingSink()
    services = make_services(store, sink)
    # The same wiring as parley.app.build_services with metrics: a metered poster.
    poster = metrics.poster(store, services.messages.poster.hooks)
    channel = await services.channels.create_channel("acme", "alice", kind="group", name="general")
    cid = channel.id
    await poster.post(Draft(org="acme", channel_id=cid, author="alice", text="hi"))
    assert value(metrics, "parley_posts_total", outcome="ok") == 1
    assert value(metrics, "parley_post_seconds_count") == 1
    assert value(metrics, "parley_store_commits_total") >= 1
    assert value(metrics, "parley_store_commit_batch_size_count") >= 1
    assert value(metrics, "parley_store_read_pool_size") >= 1
    assert value(metrics, "parley_store_write_queue") == 0
