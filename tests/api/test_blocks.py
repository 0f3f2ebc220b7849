"""``/v1/blocks``: block, list, unblock; the view marks collapsed messages; bad input is
a JSON 4xx; nothing tells the blocked user."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support.api import Env, chat_env


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    async with chat_env(tmp_path) as e:
        yield e


async def test_block_round_trip(env: Env) -> None:
    cid = await env.channel(members=["bob", "mallory"])
    assert (await env.call("PUT", "/v1/blocks/mallory"))[0] == 204
    assert (await env.call("PUT", "/v1/blocks/mallory"))[0] == 204
    status, body = await env.call("GET", "/v1/blocks")
    assert status == 200 and [b["user_id"] for b in body["items"]] == ["mallory"]
    assert body["items"][0]["blocked_at"].endswith("Z")
    assert (await env.call("GET", "/v1/blocks", "mallory"))[1] == {"items": []}
    status, body = await env.call("PUT", "/v1/blocks/alice")
    assert status == 400 and body["error"]["code"] == "bad_request"

    mid = (await env.post(cid, "hello @alice", "mallory"))["message_id"]
    status, body = await env.call("GET", f"/v1/channels/{cid}/timeline")
    assert status == 200 and body["items"][0]["collapsed"] is True
    status, body = await env.call("GET", f"/v1/channels/{cid}/messages/{mid}/view", "bob")
    assert status == 200 and body["collapsed"] is False
    assert (await env.call("GET", f"/v1/channels/{cid}"))[1]["unread"] == 0
    # mallory cannot start a direct channel with alice: the deleted-account answer
    status, body = await env.call(
        "POST", "/v1/channels", "mallory", json={"kind": "direct", "members": ["alice"]}
    )
    assert status == 404 and body["error"] == {"code": "not_found", "message": "no such user"}

    assert (await env.call("DELETE", "/v1/blocks/mallory"))[0] == 204
    assert (await env.call("DELETE", "/v1/blocks/mallory"))[0] == 204
    assert (await env.call("GET", "/v1/blocks"))[1] == {"items": []}
    status, body = await env.call("GET", f"/v1/channels/{cid}/timeline")
    assert body["items"][0]["collapsed"] is False
    status, _ = await env.call(
        "POST", "/v1/channels", "mallory", json={"kind": "direct", "members": ["alice"]}
    )
    assert status == 201
