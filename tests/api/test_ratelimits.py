"""REST rate limits per token: 429 ``rate_limited`` with ``Retry-After``, on virtual time
(trio's ``mock_clock``: time moves only when the test says so)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest
import trio.testing

from parley.domain.ratelimits import RateLimitConfig
from tests.support.api import Env, chat_env, make_settings

LIMITS = RateLimitConfig(write_rate=0.5, write_burst=3, read_rate=2.0, read_burst=4)


@pytest.fixture
async def env(tmp_path: Path, mock_clock: trio.testing.MockClock) -> AsyncIterator[Env]:
    async with chat_env(tmp_path, replace(make_settings(), rate_limits=LIMITS)) as e:
        yield e


async def test_writes_over_the_limit_get_429_with_retry_after(
    env: Env, mock_clock: trio.testing.MockClock
) -> None:
    cid = await env.channel()  # write 1
    await env.post(cid, "one")  # 2
    await env.post(cid, "two")  # 3
    resp = await env.request("POST", f"/v1/channels/{cid}/messages", json={"text": "three"})
    assert resp.status_code == 429
    assert resp.headers["Retry-After"] == "2"  # one token per 2 s
    body = await resp.get_json()
    assert body["error"]["code"] == "rate_limited"
    # Refused before anything ran: the message was not stored.
    _, page = await env.call("GET", f"/v1/channels/{cid}/messages")
    assert [m["text"] for m in page["items"]] == ["two", "one"]
    # Another user, and reads, have buckets of their own.
    assert (await env.post_raw(cid, "bob here", "bob"))[0] == 201
    mock_clock.jump(2.0)
    assert (await env.post_raw(cid, "three"))[0] == 201
    assert (await env.post_raw(cid, "four"))[0] == 429


async def test_reads_over_the_limit_get_429(env: Env, mock_clock: trio.testing.MockClock) -> None:
    for _ in range(4):
        assert (await env.call("GET", "/v1/channels"))[0] == 200
    resp = await env.request("GET", "/v1/channels")
    assert (resp.status_code, resp.headers["Retry-After"]) == (429, "1")
    assert (await env.call("GET", "/healthz", None))[0] == 200  # no token, no limit
    mock_clock.jump(0.5)
    assert (await env.call("GET", "/v1/channels"))[0] == 200


async def test_service_tokens_have_a_higher_limit(env: Env) -> None:
    event = {"topic": "events.acme.billing.paid", "data": {}}
    statuses = [
        (await env.call("POST", "/v1/events", "billing", roles=("service",), json=event))[0]
        for _ in range(31)
    ]
    assert statuses == [200] * 30 + [429]  # burst 3 x service factor 10
