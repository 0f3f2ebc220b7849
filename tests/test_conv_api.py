"""The conversation endpoints over HTTP (in-process): bad input is a JSON 4xx, never a
500; user topics stay private in the hub; the Markdown subset and mention grammar."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from parley.broker.hub import Hub
from parley.broker.session import check_user_pattern
from parley.core.codes import ErrorCode
from parley.core.errors import ClientError
from parley.core.topics import parse_pattern
from parley.domain import content
from tests.api_helpers import Env, chat_env
from tests.brokerkit import make_conn


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    async with chat_env(tmp_path) as e:
        yield e


async def test_bad_inputs_are_json_4xx(env: Env) -> None:
    cid = await env.channel(members=("bob",))
    mid = (await env.post(cid, "hello"))["message_id"]
    m = f"/v1/channels/{cid}/messages/{mid}"
    cases: list[tuple[str, str, Any, int]] = [
        ("PATCH", m, {"text": ""}, 400),
        ("PATCH", m, {"text": 5}, 400),
        ("PATCH", m, {"text": "x", "extra": 1}, 400),
        ("PATCH", m, {"text": "x" * 20000}, 413),
        ("PATCH", m, {"text": "```la!ng\ncode\n```"}, 400),
        ("PATCH", f"/v1/channels/{cid}/messages/msg_none", {"text": "x"}, 404),
        ("PATCH", f"/v1/channels/{cid}/messages/a%00b", {"text": "x"}, 404),
        ("POST", f"{m}/reactions", {"emoji": "not an emoji"}, 400),
        ("POST", f"{m}/reactions", {"emoji": None}, 400),
        ("POST", f"{m}/reactions", [], 400),
        ("DELETE", f"{m}/reactions/%F0%9F%91%8D", None, 200),
        ("DELETE", f"{m}/reactions/xx", None, 400),
        ("POST", f"/v1/channels/{cid}/threads/{mid}/replies", {"text": "  "}, 400),
        (
            "POST",
            f"/v1/channels/{cid}/threads/{mid}/replies",
            {"text": "x", "also_send_to_channel": "yes"},
            400,
        ),
        ("POST", f"/v1/channels/{cid}/threads/msg_none/replies", {"text": "x"}, 404),
        ("POST", f"/v1/channels/{cid}/threads/{mid}/read", {"seq": -1}, 400),
        ("GET", f"/v1/channels/{cid}/timeline?before=-5", None, 400),
        ("GET", f"/v1/channels/{cid}/timeline?limit=0", None, 400),
        ("GET", f"/v1/channels/{cid}/timeline?limit=abc", None, 400),
        ("GET", f"/v1/channels/{cid}/threads/{mid}?after=-1", None, 400),
        ("PUT", f"/v1/channels/{cid}/pins/msg_none", None, 404),
        ("POST", "/v1/bookmarks", {"channel": cid, "message_id": mid, "note": "n" * 1001}, 400),
        ("POST", "/v1/bookmarks", {"channel": cid}, 400),
        ("GET", "/v1/bookmarks?cursor=%%%", None, 400),
        ("DELETE", "/v1/bookmarks/msg_none", None, 404),
        ("POST", f"{m}/share", {"channel": "ch_none"}, 404),
        ("POST", f"{m}/share", {"channel": cid, "comment": "\x00"}, 400),
        ("POST", f"{m}/tasks", {"title": "t", "due": "tomorrow"}, 400),
        ("POST", f"{m}/tasks", {"title": "t", "due": "2026-13-45"}, 400),
        ("POST", f"{m}/tasks", {"title": "t", "assignee": "stranger"}, 400),
        ("POST", f"{m}/tasks", {"title": "x" * 301}, 400),
        ("GET", "/v1/tasks/task_none", None, 404),
        ("POST", "/v1/tasks/task_none/complete", None, 404),
        ("POST", "/v1/teams", {"name": "@bad name"}, 400),
        ("POST", "/v1/teams", {"name": "channel"}, 400),
        ("POST", "/v1/teams", {"name": "ok", "members": [""]}, 400),
        ("GET", "/v1/teams/team_none", None, 404),
        ("POST", "/v1/teams/team_none/members", {"user_id": "x"}, 404),
    ]
    for method, path, body, expected in cases:
        status, got = await env.call(method, path, "alice", json=body)
        assert status == expected, (method, path, body, got)
        if status >= 400:
            assert set(got["error"]) == {"code", "message"}, got


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


async def test_user_topics_reach_only_their_user() -> None:
    hub = Hub()
    alice, bob = make_conn("alice"), make_conn("bob")
    for conn in (alice, bob):
        hub.subscribe(conn.client, "events.acme.>", parse_pattern("events.acme.>"))
    assert hub.publish("events.acme.users.user.mentioned.alice", {"x": 1}) == 1
    assert len(alice.outbox) == 1 and len(bob.outbox) == 0
    assert hub.publish("events.acme.client.chat.x", {"x": 1}) == 2  # other topics unchanged
    check_user_pattern(parse_pattern("events.acme.users.user.mentioned.bob"), "bob")
    check_user_pattern(parse_pattern("events.acme.users.*.*.bob"), "bob")
    for pattern in (
        "events.acme.users.user.mentioned.alice",
        "events.acme.users.user.mentioned.*",
        "events.acme.users.>",
        "events.acme.users.user.mentioned.bob.x",
    ):
        with pytest.raises(ClientError) as exc:
            check_user_pattern(parse_pattern(pattern), "bob")
        assert exc.value.code is ErrorCode.FORBIDDEN


def test_markdown_subset() -> None:
    text = "**b** _i_ ~~s~~ `c`\n```python\nprint('@x')\n```\n~~~\nraw\n~~~\n````\n```\n````"
    prose, blocks = content.split_code(text)
    assert blocks == [("python", "print('@x')"), ("", "raw"), ("", "```")]
    assert prose == "**b** _i_ ~~s~~ `c`"
    assert content.check_rich_text("inline ```not a fence``` here") is not None
    for bad in ("```\nopen", "```bad!lang\nx\n```", "```" + "x" * 40 + "\n```"):
        with pytest.raises(ClientError):
            content.check_rich_text(bad)


def test_mention_grammar() -> None:
    got = content.parse_mentions(
        "@alice, @bob.smith. @team-x (@carol) mail a@b.c `@code` @Here\n```\n@block\n```"
    )
    assert got.handles == ["alice", "bob.smith", "team-x", "carol"]
    assert got.everyone is True
    assert content.parse_mentions("no one @ all").handles == []


FIELDS = [
    "text", "emoji", "note", "channel", "message_id", "comment", "title", "assignee", "due",
    "name", "members", "user_id", "seq", "also_send_to_channel", "idempotency_key",
]  # fmt: skip
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.text(max_size=20),
    st.sampled_from(["", "\x00", "\ud800", "👍", ":ok:", "```", "2026-01-01", "bob"]),
)
values = st.one_of(scalars, st.lists(scalars, max_size=3))
bodies = st.one_of(values, st.dictionaries(st.sampled_from(FIELDS), values, max_size=5))
WRITE_ROUTES = [
    ("PATCH", "/v1/channels/{cid}/messages/{mid}"),
    ("POST", "/v1/channels/{cid}/messages/{mid}/reactions"),
    ("POST", "/v1/channels/{cid}/threads/{mid}/replies"),
    ("POST", "/v1/channels/{cid}/threads/{mid}/read"),
    ("POST", "/v1/channels/{cid}/messages/{mid}/share"),
    ("POST", "/v1/channels/{cid}/messages/{mid}/tasks"),
    ("POST", "/v1/bookmarks"),
    ("POST", "/v1/teams"),
    ("POST", "/v1/teams/{tid}/members"),
]


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(bodies=st.lists(bodies, min_size=len(WRITE_ROUTES), max_size=len(WRITE_ROUTES)))
async def test_random_bodies_never_yield_500(tmp_path: Path, bodies: list[Any]) -> None:
    async with chat_env(tmp_path / uuid.uuid4().hex) as env:
        cid = await env.channel(members=("bob",))
        mid = (await env.post(cid, "hello"))["message_id"]
        _, team = await env.call("POST", "/v1/teams", "alice", json={"name": "t"})
        ids = {"cid": cid, "mid": mid, "tid": team["id"]}
        for (method, path), body in zip(WRITE_ROUTES, bodies, strict=True):
            status, reply = await env.call(
                method, path.format(**ids), "alice", data=json.dumps(body).encode()
            )
            assert status < 500, (method, path, body, reply)
            if status >= 400:
                assert set(reply["error"]) == {"code", "message"}
