"""Teams over REST."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support.api import Env, chat_env


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    async with chat_env(tmp_path) as e:
        yield e


async def test_teams_over_rest(env: Env) -> None:
    status, team = await env.call(
        "POST", "/v1/teams", "alice", json={"name": "design", "members": ["bob"]}
    )
    assert status == 201 and team["members"] == ["bob"]
    assert (await env.call("POST", "/v1/teams", "bob", json={"name": "design"}))[0] == 409
    path = f"/v1/teams/{team['id']}/members"
    status, body = await env.call("POST", path, "mallory", json={"user_id": "mallory"})
    assert (status, body["error"]["code"]) == (403, "forbidden")
    status, body = await env.call(
        "POST", path, "svc", roles=("service",), json={"user_id": "carol"}
    )
    assert status == 200 and body["members"] == ["bob", "carol"]
    status, body = await env.call("DELETE", f"{path}/carol", "bob")
    assert status == 200 and body["members"] == ["bob"]
    assert (await env.call("DELETE", f"{path}/carol", "bob"))[0] == 404
    assert (await env.call("GET", f"/v1/teams/{team['id']}", "eve", org="globex"))[0] == 404
    status, listed = await env.call("GET", "/v1/teams", "zed")
    assert [t["name"] for t in listed["items"]] == ["design"]
    assert (await env.call("GET", "/v1/teams", "zed", org="globex"))[1]["items"] == []
