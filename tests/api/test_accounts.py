"""``GET /v1/users/{id}/export`` and ``DELETE /v1/users/{id}``: the user or a service
token; the deleted account's tokens get 401 from then on; a refused request changes
nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from parley.core.claims import SERVICE_ROLE
from tests.support.api import Env, chat_env


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    async with chat_env(tmp_path) as e:
        yield e


async def test_export_and_delete(env: Env) -> None:
    cid = await env.channel(members=["bob"])
    mid = (await env.post(cid, "my words"))["message_id"]
    await env.call("POST", "/v1/bookmarks", json={"channel": cid, "message_id": mid})
    status, body = await env.call("GET", "/v1/users/alice/export", "bob")
    assert status == 403 and body["error"]["code"] == "forbidden"
    status, body = await env.call("DELETE", "/v1/users/alice", "bob")
    assert status == 403 and body["error"]["code"] == "forbidden"
    resp = await env.request("GET", "/v1/users/alice/export")
    assert resp.status_code == 200 and "attachment" in resp.headers["Content-Disposition"]
    archive = await resp.get_json()
    assert archive["format"] == "parley-export/1" and archive["user_id"] == "alice"
    assert [m["text"] for m in archive["messages"]] == ["my words"]
    assert [b["message_id"] for b in archive["bookmarks"]] == [mid]
    status, again = await env.call("GET", "/v1/users/alice/export", "ops", roles=[SERVICE_ROLE])
    assert status == 200 and again["messages"] == archive["messages"]

    status, body = await env.call("DELETE", "/v1/users/alice")
    assert status == 200 and body["user_id"] == "alice" and body["erased"]["messages"] == 1
    status, body = await env.call("GET", "/v1/channels")
    assert status == 401 and body["error"] == {"code": "unauthorized", "message": "account deleted"}
    status, body = await env.call("GET", f"/v1/channels/{cid}/messages/{mid}", "bob")
    assert status == 200 and body["deleted"] is True and body["text"] == ""
    status, body = await env.call(
        "POST", f"/v1/channels/{cid}/members", "bob", json={"user_id": "alice"}
    )
    assert status == 404 and body["error"]["message"] == "no such user"
    # a service deletes a user of its org
    await env.post(cid, "bob was here", "bob")
    status, body = await env.call("DELETE", "/v1/users/bob", "ops", roles=[SERVICE_ROLE])
    assert status == 200 and body["erased"]["messages"] == 1
    assert (await env.call("GET", "/v1/profile", "bob"))[0] == 401
    assert (await env.call("GET", "/v1/profile", "bob", org="other"))[0] == 200
