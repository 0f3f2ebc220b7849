"""``/v1/events`` and ``/v1/events:batch``: service tokens publish within their org."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support.api import Env, chat_env

SERVICE = ("service",)
TOPIC = "events.acme.billing.invoice.paid.inv_1"


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    async with chat_env(tmp_path) as e:
        yield e


async def test_service_publishes_in_its_org(env: Env) -> None:
    status, body = await env.call(
        "POST", "/v1/events", "billing", roles=SERVICE, json={"topic": TOPIC, "data": {"n": 1}}
    )
    assert (status, body) == (200, {"topic": TOPIC, "deliveries": 1})
    assert env.sink.published == [(TOPIC, {"n": 1})]


async def test_batch_route_with_colon_publishes_in_order(env: Env) -> None:
    events = [{"topic": f"events.acme.svc.thing.{i}", "data": i} for i in range(3)]
    status, body = await env.call(
        "POST", "/v1/events:batch", "svc", roles=SERVICE, json={"events": events}
    )
    assert (status, body) == (200, {"deliveries": [1, 1, 1]})
    assert env.sink.published == [(e["topic"], e["data"]) for e in events]


@pytest.mark.parametrize("path", ["/v1/events", "/v1/events:batch"])
async def test_non_service_tokens_are_forbidden(env: Env, path: str) -> None:
    one = {"topic": TOPIC, "data": None}
    payload = one if path == "/v1/events" else {"events": [one]}
    status, body = await env.call("POST", path, "alice", json=payload)
    assert (status, body["error"]["code"]) == (403, "forbidden")
    assert env.sink.published == []


@pytest.mark.parametrize(
    ("topic", "status", "code"),
    [
        ("events.other.billing.invoice.paid", 403, "forbidden"),
        ("system.acme.x", 403, "forbidden"),
        ("events.acme.*.x", 400, "invalid_topic"),
        ("events.acme.>", 400, "invalid_topic"),
        ("events..x", 400, "invalid_topic"),
        ("events", 400, "invalid_topic"),
        ("", 400, "invalid_topic"),
        ("events.acme." + "a." * 300 + "b", 400, "invalid_topic"),
    ],
)
async def test_bad_topics_are_refused(env: Env, topic: str, status: int, code: str) -> None:
    got, body = await env.call("POST", "/v1/events", "svc", roles=SERVICE, json={"topic": topic})
    assert (got, body["error"]["code"]) == (status, code)
    assert env.sink.published == []


async def test_batch_is_validated_before_anything_is_published(env: Env) -> None:
    events = [{"topic": TOPIC}, {"topic": "events.other.x.y"}]
    status, _ = await env.call(
        "POST", "/v1/events:batch", "svc", roles=SERVICE, json={"events": events}
    )
    assert status == 403
    assert env.sink.published == []
    status, body = await env.call(
        "POST", "/v1/events:batch", "svc", roles=SERVICE, json={"events": []}
    )
    assert (status, body["error"]["code"]) == (400, "bad_request")
    many = [{"topic": TOPIC}] * 101
    status, _ = await env.call(
        "POST", "/v1/events:batch", "svc", roles=SERVICE, json={"events": many}
    )
    assert status == 400
    assert env.sink.published == []


@pytest.mark.parametrize(
    "payload", [{}, {"topic": 5}, {"topic": TOPIC, "extra": 1}, {"events": "x"}]
)
async def test_bad_bodies(env: Env, payload: object) -> None:
    status, body = await env.call("POST", "/v1/events", "svc", roles=SERVICE, json=payload)
    assert (status, body["error"]["code"]) == (400, "bad_request")


async def test_oversized_event_data(env: Env) -> None:
    data = "x" * (65 * 1024)
    status, body = await env.call(
        "POST", "/v1/events", "svc", roles=SERVICE, json={"topic": TOPIC, "data": data}
    )
    assert (status, body["error"]["code"]) == (413, "payload_too_large")
