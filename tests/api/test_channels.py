"""``/v1/channels``: creation rules, listing with unread counts, tenancy."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from parley.domain.rules import MAX_NAME_CHARS
from tests.support.api import Env, chat_env


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    async with chat_env(tmp_path) as e:
        yield e


async def test_create_group_makes_creator_owner(env: Env) -> None:
    status, body = await env.call(
        "POST",
        "/v1/channels",
        json={"kind": "group", "name": " general ", "topic": "talk", "members": ["bob", "bob"]},
    )
    assert status == 201
    assert body["kind"] == "group"
    assert body["name"] == "general"
    assert body["topic"] == "talk"
    assert body["created_by"] == "alice"
    assert body["role"] == "owner"
    assert body["member_count"] == 2
    assert body["created_at"].endswith("Z")
    status, members = await env.call("GET", f"/v1/channels/{body['id']}/members")
    assert status == 200
    assert {m["user_id"]: m["role"] for m in members["items"]} == {
        "alice": "owner",
        "bob": "member",
    }
    # the member_added events reached the sink, in seq order
    seqs = [e.seq for e in env.sink.channel_events if e.channel_id == body["id"]]
    assert seqs == sorted(seqs) and len(seqs) == 2


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        ({"kind": "group", "name": ""}, "bad_request"),
        ({"kind": "group", "name": "   "}, "bad_request"),
        ({"kind": "broadcast"}, "bad_request"),
        ({"kind": "group", "name": "x" * (MAX_NAME_CHARS + 1)}, "bad_request"),
        ({"kind": "group", "name": "g", "topic": "t" * 501}, "bad_request"),
        ({"kind": "club", "name": "g"}, "bad_request"),
        ({"name": "g"}, "bad_request"),
        ({"kind": "group", "name": 5}, "bad_request"),
        ({"kind": "group", "name": "g", "members": "bob"}, "bad_request"),
        ({"kind": "group", "name": "g", "members": [1]}, "bad_request"),
        ({"kind": "group", "name": "g", "members": [""]}, "bad_request"),
        ({"kind": "group", "name": "g", "colour": "red"}, "bad_request"),
        ({"kind": "direct", "members": []}, "bad_request"),
        ({"kind": "direct", "members": ["alice"]}, "bad_request"),
        ({"kind": "direct", "members": ["bob", "carol"]}, "bad_request"),
        ([], "bad_request"),
    ],
)
async def test_create_refuses_bad_input(env: Env, payload: Any, code: str) -> None:
    status, body = await env.call("POST", "/v1/channels", json=payload)
    assert status == 400, body
    assert body["error"]["code"] == code
    assert body["error"]["message"]


async def test_direct_channel_is_one_per_pair(env: Env) -> None:
    status, body = await env.call(
        "POST", "/v1/channels", json={"kind": "direct", "members": ["bob"]}
    )
    assert status == 201
    assert body["member_count"] == 2
    # a second one, from either side, is a conflict
    status, err = await env.call(
        "POST", "/v1/channels", "bob", json={"kind": "direct", "members": ["alice"]}
    )
    assert status == 409
    assert err["error"]["code"] == "conflict"
    # another org's alice and bob are other people
    status, _ = await env.call(
        "POST", "/v1/channels", org="other", json={"kind": "direct", "members": ["bob"]}
    )
    assert status == 201


async def test_get_channel_is_404_for_non_members_and_other_orgs(env: Env) -> None:
    cid = await env.channel()
    status, body = await env.call("GET", f"/v1/channels/{cid}", "bob")
    assert status == 200
    assert body["role"] == "member"
    for user, org in [("mallory", "acme"), ("alice", "other"), ("bob", "other")]:
        status, err = await env.call("GET", f"/v1/channels/{cid}", user, org=org)
        assert status == 404
        assert err["error"]["code"] == "not_found"
    status, nope = await env.call("GET", "/v1/channels/ch_does_not_exist")
    assert status == 404
    assert nope == err  # a non-member cannot tell an existing channel from a missing one


async def test_list_is_mine_with_unread_and_last_message(env: Env) -> None:
    a = await env.channel(name="a")
    b = await env.channel(name="b", members=["carol"])
    await env.channel(name="c", owner="carol", members=["dave"])
    await env.channel(name="other-org", org="other")
    await env.post(a, "hello bob")
    await env.post(a, "again")
    await env.post(b, "hi carol", user="carol")

    status, body = await env.call("GET", "/v1/channels", "bob")
    assert status == 200
    assert [c["id"] for c in body["items"]] == [a]
    assert body["items"][0]["unread"] == 2
    assert body["items"][0]["last_message"]["text"] == "again"
    assert body["next_cursor"] is None

    status, body = await env.call("GET", "/v1/channels", "alice")
    by_id = {c["id"]: c for c in body["items"]}
    assert set(by_id) == {a, b}
    assert by_id[a]["unread"] == 0  # own messages are not unread
    assert by_id[b]["unread"] == 1
    assert by_id[b]["last_message"]["author"] == "carol"


async def test_list_paginates_with_cursor(env: Env) -> None:
    made = {await env.channel(name=f"c{i}") for i in range(5)}
    seen: list[str] = []
    cursor: str | None = None
    for _ in range(5):
        query: dict[str, Any] = {"limit": 2}
        if cursor:
            query["cursor"] = cursor
        status, body = await env.call("GET", "/v1/channels", query=query)
        assert status == 200
        assert len(body["items"]) <= 2
        seen += [c["id"] for c in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(made)


@pytest.mark.parametrize(
    "query",
    [{"cursor": "garbage!!"}, {"limit": "many"}, {"limit": "0"}, {"limit": "-3"}],
)
async def test_list_refuses_bad_paging(env: Env, query: dict[str, Any]) -> None:
    await env.channel()
    status, body = await env.call("GET", "/v1/channels", query=query)
    assert status == 400
    assert body["error"]["code"] == "bad_request"
