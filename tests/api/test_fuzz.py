"""Bad input never yields a 500: random bodies and query strings against every write route."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.api import Env, chat_env

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
    st.sampled_from(["", "\x00", "\ud800", "events.acme.a.b", "https://x.example/a", "owner"]),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
FIELDS = [
    "kind", "name", "topic", "members", "user_id", "role", "text", "idempotency_key", "seq",
    "display_name", "avatar_url", "data", "events", "chunk", "index",
]  # fmt: skip
bodies = st.one_of(json_values, st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=5))

ROUTES = [
    ("POST", "/v1/channels"),
    ("POST", "/v1/channels/{cid}/members"),
    ("POST", "/v1/channels/{cid}/messages"),
    ("POST", "/v1/channels/{cid}/read"),
    ("PUT", "/v1/profile"),
    ("POST", "/v1/events"),
    ("POST", "/v1/events:batch"),
    ("POST", "/v1/channels/{cid}/streams/{sid}/chunks"),
]
QUERY_KEYS = ["before", "after", "limit", "from", "to", "cursor"]
queries = st.dictionaries(
    st.sampled_from(QUERY_KEYS),
    st.one_of(st.text(max_size=30), st.integers().map(str), st.sampled_from(["2026-01-01"])),
    max_size=4,
)


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(bodies=st.lists(bodies, min_size=len(ROUTES), max_size=len(ROUTES)), query=queries)
async def test_bad_input_never_yields_500(
    tmp_path: Path, bodies: list[Any], query: dict[str, str]
) -> None:
    # hypothesis runs each example in its own trio run: so one fresh app and store each
    async with chat_env(tmp_path / uuid.uuid4().hex) as env:
        cid = await env.channel()
        _, stream = await env.call("POST", f"/v1/channels/{cid}/streams", "svc", roles=["service"])
        ids = {"cid": cid, "sid": stream["stream_id"]}
        for (method, path), body in zip(ROUTES, bodies, strict=True):
            data = json.dumps(body).encode()
            status, reply = await env.call(
                method, path.format(**ids), "svc", roles=["service"], data=data
            )
            assert status < 500, (method, path, body, reply)
            if status >= 400:
                assert set(reply["error"]) == {"code", "message"}
        for path in ("/v1/channels/{cid}/messages", "/v1/channels", "/v1/channels/{cid}/members"):
            status, reply = await env.call("GET", path.format(**ids), query=query)
            assert status < 500, (path, query, reply)


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    async with chat_env(tmp_path) as e:
        yield e


values = st.one_of(scalars, st.lists(scalars, max_size=3))


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
