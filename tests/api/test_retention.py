"""``/v1/retention`` and ``/v1/channels/{id}/retention``: who reads and sets them, and bad
input as JSON 4xx."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from parley.core.claims import SERVICE_ROLE
from tests.support.api import Env, chat_env

DAY = 86400


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    async with chat_env(tmp_path) as e:
        yield e


async def test_retention_endpoints(env: Env) -> None:
    cid = await env.channel(members=["bob"])
    empty = {"org_seconds": None, "channel_seconds": None, "effective_seconds": None}
    assert await env.call("GET", "/v1/retention", "bob") == (200, empty)
    status, body = await env.call("PUT", "/v1/retention", json={"seconds": DAY})
    assert status == 403 and body["error"]["code"] == "forbidden"
    for bad in ({"seconds": "1"}, {"seconds": 5}, {}, {"seconds": DAY, "x": 1}, [1]):
        status, body = await env.call("PUT", "/v1/retention", "ops", roles=[SERVICE_ROLE], json=bad)
        assert status == 400 and body["error"]["code"] == "bad_request", bad
    status, body = await env.call(
        "PUT", "/v1/retention", "ops", roles=[SERVICE_ROLE], json={"seconds": 30 * DAY}
    )
    assert status == 200 and body["effective_seconds"] == 30 * DAY
    path = f"/v1/channels/{cid}/retention"
    status, body = await env.call("PUT", path, "bob", json={"seconds": DAY})
    assert status == 403
    status, body = await env.call("PUT", path, "eve", json={"seconds": DAY})
    assert status == 404 and body["error"]["code"] == "not_found"
    status, body = await env.call("PUT", path, json={"seconds": 7 * DAY})
    assert (status, body) == (
        200,
        {"org_seconds": 30 * DAY, "channel_seconds": 7 * DAY, "effective_seconds": 7 * DAY},
    )
    assert (await env.call("GET", path, "bob"))[1]["effective_seconds"] == 7 * DAY
    assert (await env.call("GET", path, "eve"))[0] == 404
    status, body = await env.call("PUT", path, json={"seconds": None})
    assert status == 200 and body["effective_seconds"] == 30 * DAY
