"""``/v1/channels/{id}/members``: who may add and remove whom."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support.api import Env, chat_env


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    async with chat_env(tmp_path) as e:
        yield e


async def members_of(env: Env, cid: str, user: str = "alice") -> dict[str, str]:
    status, body = await env.call("GET", f"/v1/channels/{cid}/members", user)
    assert status == 200, body
    return {m["user_id"]: m["role"] for m in body["items"]}


async def test_any_member_adds_members(env: Env) -> None:
    cid = await env.channel()
    status, body = await env.call(
        "POST", f"/v1/channels/{cid}/members", "bob", json={"user_id": "carol"}
    )
    assert status == 201
    assert body["user_id"] == "carol"
    assert body["role"] == "member"
    assert body["joined_at"].endswith("Z")
    # adding again changes nothing and says so with 200
    status, body = await env.call(
        "POST", f"/v1/channels/{cid}/members", json={"user_id": "carol", "role": "admin"}
    )
    assert status == 200
    assert body["role"] == "member"
    assert await members_of(env, cid) == {"alice": "owner", "bob": "member", "carol": "member"}


async def test_granting_roles_needs_rank(env: Env) -> None:
    cid = await env.channel()
    url = f"/v1/channels/{cid}/members"
    status, err = await env.call("POST", url, "bob", json={"user_id": "carol", "role": "admin"})
    assert (status, err["error"]["code"]) == (403, "forbidden")
    status, _ = await env.call("POST", url, "alice", json={"user_id": "carol", "role": "admin"})
    assert status == 201
    status, err = await env.call("POST", url, "carol", json={"user_id": "dave", "role": "owner"})
    assert status == 403
    status, _ = await env.call("POST", url, "carol", json={"user_id": "dave", "role": "admin"})
    assert status == 201


@pytest.mark.parametrize(
    "payload",
    [{}, {"user_id": ""}, {"user_id": 7}, {"user_id": "x", "role": "king"}, {"user_id": "x" * 129}],
)
async def test_add_refuses_bad_input(env: Env, payload: object) -> None:
    cid = await env.channel()
    status, body = await env.call("POST", f"/v1/channels/{cid}/members", json=payload)
    assert status == 400
    assert body["error"]["code"] == "bad_request"


async def test_non_members_and_other_orgs_cannot_touch_members(env: Env) -> None:
    cid = await env.channel()
    url = f"/v1/channels/{cid}/members"
    for user, org in [("mallory", "acme"), ("alice", "other")]:
        assert (await env.call("GET", url, user, org=org))[0] == 404
        status, _ = await env.call("POST", url, user, org=org, json={"user_id": user})
        assert status == 404
        assert (await env.call("DELETE", f"{url}/bob", user, org=org))[0] == 404
    assert await members_of(env, cid) == {"alice": "owner", "bob": "member"}


async def test_members_leave_and_moderators_remove(env: Env) -> None:
    cid = await env.channel(members=["bob", "carol", "dave"])
    url = f"/v1/channels/{cid}/members"
    # a plain member cannot remove another
    status, err = await env.call("DELETE", f"{url}/carol", "bob")
    assert (status, err["error"]["code"]) == (403, "forbidden")
    # but may leave
    status, body = await env.call("DELETE", f"{url}/bob", "bob")
    assert (status, body) == (204, None)
    assert (await env.call("GET", f"/v1/channels/{cid}", "bob"))[0] == 404
    # an admin removes members but not the owner
    await env.call("POST", url, json={"user_id": "erin", "role": "admin"})
    assert (await env.call("DELETE", f"{url}/alice", "erin"))[0] == 403
    assert (await env.call("DELETE", f"{url}/carol", "erin"))[0] == 204
    # the owner removes anyone
    assert (await env.call("DELETE", f"{url}/erin", "alice"))[0] == 204
    # removing a non-member is 404
    status, err = await env.call("DELETE", f"{url}/zed", "alice")
    assert (status, err["error"]["code"]) == (404, "not_found")
    assert await members_of(env, cid) == {"alice": "owner", "dave": "member"}


async def test_direct_channel_members_are_fixed(env: Env) -> None:
    _, body = await env.call("POST", "/v1/channels", json={"kind": "direct", "members": ["bob"]})
    url = f"/v1/channels/{body['id']}/members"
    assert (await env.call("POST", url, json={"user_id": "carol"}))[0] == 403
    assert (await env.call("DELETE", f"{url}/bob"))[0] == 403
    assert (await env.call("DELETE", f"{url}/bob", "bob"))[0] == 403


async def test_members_paginate(env: Env) -> None:
    cid = await env.channel(members=[f"u{i}" for i in range(6)])
    seen: list[str] = []
    cursor = None
    for _ in range(10):
        query = {"limit": "3", **({"cursor": cursor} if cursor else {})}
        status, body = await env.call("GET", f"/v1/channels/{cid}/members", query=query)
        assert status == 200
        seen += [m["user_id"] for m in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(["alice"] + [f"u{i}" for i in range(6)])
    status, body = await env.call("GET", f"/v1/channels/{cid}/members", query={"cursor": "%%%"})
    assert (status, body["error"]["code"]) == (400, "bad_request")


async def test_membership_changes_reach_the_sink(env: Env) -> None:
    cid = await env.channel()
    await env.call("POST", f"/v1/channels/{cid}/members", json={"user_id": "carol"})
    await env.call("DELETE", f"/v1/channels/{cid}/members/carol")
    names = [str(e.event) for e in env.sink.channel_events if e.channel_id == cid]
    assert names == ["member_added", "member_added", "member_added", "member_removed"]
