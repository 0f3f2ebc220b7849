"""Operations end to end: /metrics moves as load runs, /readyz drains at shutdown, both on
the REST port and on the broker port, and JSON logs carry the connection id, never a
token."""

from __future__ import annotations

import io
import json
import logging
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import replace
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from websockets.sync.client import connect

from parley.logs import configure_logging
from parley.settings import Settings
from tests.conftest import make_token
from tests.e2e.test_channels import dial, rest
from tests.support.live import LiveApp, live_app

TIMEOUT = 15
TOPIC = "events.acme.client.load.>"  # the client namespace: any user may read it

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def get(url: str) -> tuple[int, str, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT) as resp:
            return resp.status, resp.headers["Content-Type"], resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers["Content-Type"], err.read()


def scrape(base: str) -> Samples:
    status, ctype, body = get(base + "/metrics")
    assert status == 200 and ctype.startswith("text/plain"), (status, ctype)
    out: Samples = {}
    for family in text_string_to_metric_families(body.decode()):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def val(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture
def app(settings: Settings) -> Iterator[LiveApp]:
    with live_app(settings) as live:
        yield live


def test_metrics_move_as_load_runs(app: LiveApp) -> None:
    before = scrape(app.http_url)
    status, ch = rest(
        app,
        "POST",
        "/v1/channels",
        "svc",
        {"kind": "group", "name": "load", "members": ["alice", "bob"]},
        roles=("service",),
    )
    assert status == 201
    cid = ch["id"]
    events = 20
    with ExitStack() as stack:
        clients = [dial(stack, app, u) for u in ("alice", "bob", "carol")]
        for c in clients:
            assert c.call("subscribe", topic=TOPIC)["ok"]
        during = scrape(app.broker_http_url)  # the broker port has the same metrics
        assert val(during, "parley_connections_open") == 3
        assert val(during, "parley_subscriptions") == 3
        for i in range(events):
            status, _ = rest(
                app,
                "POST",
                "/v1/events",
                "svc",
                {"topic": f"events.acme.client.load.{i}", "data": i},
                roles=("service",),
            )
            assert status == 200
        for c in clients:
            got = [c.recv() for _ in range(events)]
            assert [m["data"] for m in got] == list(range(events))
        replies = [clients[0].call("post", channel=cid, text=f"ws {i}") for i in range(3)]
        assert all(r["ok"] for r in replies)
        for i in range(3):
            assert rest(app, "POST", f"/v1/channels/{cid}/messages", "bob", {"text": f"r{i}"})[0]
    after = scrape(app.http_url)

    def grew(name: str, by: float, **labels: str) -> None:
        delta = val(after, name, **labels) - val(before, name, **labels)
        assert delta >= by, (name, labels, delta)

    grew("parley_connections_accepted_total", 3)
    grew("parley_publishes_total", events)
    grew("parley_deliveries_total", 3 * events)
    grew("parley_publish_seconds_count", events, kind="service")
    grew("parley_publish_seconds_count", 6, kind="channel")
    grew("parley_posts_total", 6, outcome="ok")
    grew("parley_post_seconds_count", 6)
    grew("parley_store_commits_total", 7)
    grew("parley_store_commit_batch_size_count", 7)
    grew("parley_store_commit_seconds_count", 7)
    grew("parley_http_requests_total", events, route="/v1/events", method="POST", status="200")
    grew("parley_http_request_seconds_count", events, route="/v1/events", method="POST")
    assert val(after, "parley_store_read_pool_size") >= 1
    for name in ("parley_outbox_bytes", "parley_slow_consumer_disconnects_total"):
        assert (name, ()) in after, name


def test_readyz_on_both_ports_and_unready_during_shutdown(settings: Settings) -> None:
    with live_app(replace(settings, drain_delay=300.0)) as app:
        for base in (app.http_url, app.broker_http_url):
            status, _, body = get(base + "/readyz")
            assert status == 200, body
            checks = json.loads(body)["checks"]
            assert checks == {
                "shutdown": "ok",
                "store": "ok",
                "migrations": "ok",
                "bus": "not configured",
            }
            for live in ("/livez", "/healthz"):
                assert get(base + live)[:1] == (200,)
        app.call(app.running.shutdown)  # a graceful shutdown starts draining
        for base in (app.http_url, app.broker_http_url):
            status, _, body = get(base + "/readyz")
            assert status == 503, body
            assert json.loads(body)["checks"]["shutdown"] == "shutting down"
            assert get(base + "/livez")[0] == 200
        # Still serving while the balancer drains: clients connect and REST answers.
        with ExitStack() as stack:
            dial(stack, app, "alice")
        # Leaving the block shuts down again: the second call skips the drain delay.


def test_broker_only_has_health_and_metrics(settings: Settings) -> None:
    with live_app(settings, broker_only=True) as app:
        status, _, body = get(app.broker_http_url + "/readyz")
        assert status == 200
        assert json.loads(body)["checks"]["store"] == "not configured"
        assert "parley_connections_open" in {k[0] for k in scrape(app.broker_http_url)}


@pytest.fixture
def json_logs() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    out = io.StringIO()
    configure_logging("info", "json", out)
    yield out
    for h in list(root.handlers):
        root.removeHandler(h)
    for h in handlers:
        root.addHandler(h)
    root.setLevel(level)


def test_json_logs_carry_the_connection_id_and_no_token(
    settings: Settings, json_logs: io.StringIO
) -> None:
    token = make_token("alice")
    with live_app(settings) as app:
        with connect(app.ws_url + f"?access_token={token}") as ws:
            hello: dict[str, Any] = json.loads(ws.recv(timeout=TIMEOUT))
            session = hello["data"]["session"] if "data" in hello else hello["session"]
            ws.close(1000)
        bad = make_token("mallory", ttl=-10)  # refused: expired
        with pytest.raises(Exception), connect(app.ws_url + f"?token={bad}") as ws:  # noqa: B017
            ws.recv(timeout=TIMEOUT)
        status, _ = rest(app, "GET", "/v1/profile", "alice")
        assert status in (200, 404)
    text = json_logs.getvalue()
    assert token not in text and bad not in text
    records = [json.loads(line) for line in text.splitlines()]
    mine = [r for r in records if r.get("conn_id") == session]
    assert [r["event"].split()[0] for r in mine] == ["connected", "disconnected"]
    connected, disconnected = mine
    assert (connected["user"], connected["org"]) == ("alice", "acme")
    assert connected["remote"].startswith("127.0.0.1:")
    assert disconnected["close_code"] == "peer"
