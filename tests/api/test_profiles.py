"""``/v1/profile`` and ``/v1/users/{id}/profile``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support.api import Env, chat_env


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    async with chat_env(tmp_path) as e:
        yield e


async def test_profile_round_trip(env: Env) -> None:
    status, body = await env.call("GET", "/v1/profile")
    assert (status, body) == (
        200,
        {"user_id": "alice", "display_name": None, "avatar_url": None, "updated_at": None},
    )
    status, body = await env.call(
        "PUT",
        "/v1/profile",
        json={"display_name": " Alice ", "avatar_url": "https://img.example/a.png"},
    )
    assert status == 200
    assert body["display_name"] == "Alice"
    assert body["avatar_url"] == "https://img.example/a.png"
    assert body["updated_at"].endswith("Z")
    assert (await env.call("GET", "/v1/profile"))[1] == body
    assert (await env.call("GET", "/v1/users/alice/profile", "bob"))[1] == body
    # another org's alice is someone else
    status, theirs = await env.call("GET", "/v1/users/alice/profile", "bob", org="other")
    assert (status, theirs["display_name"]) == (200, None)
    # PUT replaces: left-out fields are cleared
    status, body = await env.call("PUT", "/v1/profile", json={"display_name": "Al"})
    assert (body["display_name"], body["avatar_url"]) == ("Al", None)


@pytest.mark.parametrize(
    "payload",
    [
        {"display_name": ""},
        {"display_name": "x" * 65},
        {"display_name": 3},
        {"avatar_url": "ftp://host/a.png"},
        {"avatar_url": "javascript:alert(1)"},
        {"avatar_url": "https://"},
        {"avatar_url": "https://host/a b.png"},
        {"avatar_url": "https://host/" + "a" * 2048},
        {"nickname": "al"},
    ],
)
async def test_put_profile_refuses_bad_input(env: Env, payload: object) -> None:
    status, body = await env.call("PUT", "/v1/profile", json=payload)
    assert (status, body["error"]["code"]) == (400, "bad_request")
    assert (await env.call("GET", "/v1/profile"))[1]["updated_at"] is None
