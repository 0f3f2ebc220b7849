"""``/v1/channels/{id}/messages``: posting rules, idempotency, paging by seq and time."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from parley.domain.rules import MAX_TEXT_BYTES
from tests.support.api import Env, chat_env


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    async with chat_env(tmp_path) as e:
        yield e


async def test_post_returns_reply_fields_and_reaches_the_sink(env: Env) -> None:
    cid = await env.channel()
    status, body = await env.call("POST", f"/v1/channels/{cid}/messages", json={"text": "hi"})
    assert status == 201
    assert set(body) == {"message_id", "seq", "ts", "channel", "created"}
    assert body["channel"] == cid
    assert body["created"] is True
    assert body["ts"].endswith("Z")
    datetime.fromisoformat(body["ts"])
    posted = [e for e in env.sink.channel_events if str(e.event) == "message_posted"]
    assert [(e.channel_id, e.seq) for e in posted] == [(cid, body["seq"])]


async def test_idempotent_retry_returns_the_same_message(env: Env) -> None:
    cid = await env.channel()
    url = f"/v1/channels/{cid}/messages"
    first = await env.call("POST", url, json={"text": "once", "idempotency_key": "k1"})
    again = await env.call("POST", url, json={"text": "once", "idempotency_key": "k1"})
    assert first[0] == 201 and again[0] == 200
    assert again[1]["message_id"] == first[1]["message_id"]
    assert again[1]["seq"] == first[1]["seq"]
    assert again[1]["created"] is False
    # the same key from another author is another message
    other = await env.call("POST", url, "bob", json={"text": "once", "idempotency_key": "k1"})
    assert other[0] == 201 and other[1]["seq"] == first[1]["seq"] + 1
    _, page = await env.call("GET", url)
    assert [m["text"] for m in page["items"]] == ["once", "once"]


@pytest.mark.parametrize(
    ("payload", "status", "code"),
    [
        ({}, 400, "bad_request"),
        ({"text": ""}, 400, "bad_request"),
        ({"text": " \n "}, 400, "bad_request"),
        ({"text": 42}, 400, "bad_request"),
        ({"text": None}, 400, "bad_request"),
        ({"text": "x" * (MAX_TEXT_BYTES + 1)}, 413, "payload_too_large"),
        ({"text": "é" * (MAX_TEXT_BYTES // 2 + 1)}, 413, "payload_too_large"),
        ({"text": "hi", "idempotency_key": ""}, 400, "bad_request"),
        ({"text": "hi", "idempotency_key": "k" * 129}, 400, "bad_request"),
        ({"text": "hi", "idempotency_key": 5}, 400, "bad_request"),
        ({"text": "hi", "idempotencyKey": "k"}, 400, "bad_request"),
    ],
)
async def test_post_refuses_bad_input(env: Env, payload: Any, status: int, code: str) -> None:
    cid = await env.channel()
    got, body = await env.call("POST", f"/v1/channels/{cid}/messages", json=payload)
    assert (got, body["error"]["code"]) == (status, code)


async def test_text_at_the_cap_is_accepted(env: Env) -> None:
    cid = await env.channel()
    status, _ = await env.post_raw(cid, "x" * MAX_TEXT_BYTES)
    assert status == 201


async def test_non_members_and_other_orgs_neither_read_nor_post(env: Env) -> None:
    cid = await env.channel()
    posted = await env.post(cid, "secret")
    url = f"/v1/channels/{cid}/messages"
    for user, org in [("mallory", "acme"), ("alice", "other")]:
        assert (await env.call("POST", url, user, org=org, json={"text": "x"}))[0] == 404
        assert (await env.call("GET", url, user, org=org))[0] == 404
        assert (await env.call("GET", f"{url}/{posted['message_id']}", user, org=org))[0] == 404
    assert (await env.call("POST", "/v1/channels/ch_nope/messages", json={"text": "x"}))[0] == 404


async def test_broadcast_only_owners_and_admins_post(env: Env) -> None:
    cid = await env.channel("broadcast", name="news", members=["bob"])
    url = f"/v1/channels/{cid}/messages"
    status, err = await env.call("POST", url, "bob", json={"text": "me too"})
    assert (status, err["error"]["code"]) == (403, "forbidden")
    await env.post(cid, "announcement")
    await env.call(
        "POST", f"/v1/channels/{cid}/members", json={"user_id": "carol", "role": "admin"}
    )
    await env.post(cid, "from an admin", user="carol")
    status, page = await env.call("GET", url, "bob")  # readers read
    assert status == 200
    assert [m["text"] for m in page["items"]] == ["from an admin", "announcement"]


async def test_get_message_by_id_only_in_its_channel(env: Env) -> None:
    a = await env.channel(name="a")
    b = await env.channel(name="b")
    posted = await env.post(a, "in a")
    status, msg = await env.call("GET", f"/v1/channels/{a}/messages/{posted['message_id']}", "bob")
    assert status == 200
    assert msg["id"] == posted["message_id"]
    assert msg["seq"] == posted["seq"]
    assert msg["author"] == "alice"
    assert msg["text"] == "in a"
    assert msg["created_at"] == posted["ts"]
    assert (await env.call("GET", f"/v1/channels/{b}/messages/{posted['message_id']}"))[0] == 404
    assert (await env.call("GET", f"/v1/channels/{a}/messages/msg_nope"))[0] == 404


async def test_pages_newest_first_with_before(env: Env) -> None:
    cid = await env.channel()
    seqs = [(await env.post(cid, f"m{i}"))["seq"] for i in range(7)]
    url = f"/v1/channels/{cid}/messages"
    got: list[int] = []
    query: dict[str, Any] = {"limit": 3}
    while True:
        status, page = await env.call("GET", url, query=query)
        assert status == 200
        got += [m["seq"] for m in page["items"]]
        assert page["next_after"] is None
        if page["next_before"] is None:
            break
        query = {"limit": 3, "before": page["next_before"]}
    assert got == sorted(seqs, reverse=True)


async def test_pages_oldest_first_with_after(env: Env) -> None:
    cid = await env.channel()
    seqs = [(await env.post(cid, f"m{i}"))["seq"] for i in range(7)]
    url = f"/v1/channels/{cid}/messages"
    got: list[int] = []
    query: dict[str, Any] = {"limit": 3, "after": 0}
    while True:
        status, page = await env.call("GET", url, query=query)
        assert status == 200
        got += [m["seq"] for m in page["items"]]
        if page["next_after"] is None:
            break
        query = {"limit": 3, "after": page["next_after"]}
    assert got == seqs
    # both bounds: a window
    status, page = await env.call("GET", url, query={"after": seqs[1], "before": seqs[4]})
    assert [m["seq"] for m in page["items"]] == seqs[2:4]


async def test_time_bounds(env: Env) -> None:
    cid = await env.channel()
    first = await env.post(cid, "first")
    await env.post(cid, "second")
    url = f"/v1/channels/{cid}/messages"
    status, page = await env.call("GET", url, query={"from": first["ts"], "to": first["ts"]})
    assert status == 200
    assert [m["text"] for m in page["items"]] == ["first"]
    future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    status, page = await env.call("GET", url, query={"from": future})
    assert (status, page["items"]) == (200, [])
    status, page = await env.call("GET", url, query={"to": "2000-01-01"})
    assert (status, page["items"]) == (200, [])


@pytest.mark.parametrize(
    "query",
    [
        {"before": "x"},
        {"after": "-1"},
        {"before": "-5"},
        {"limit": "0"},
        {"limit": "1.5"},
        {"from": "yesterday"},
        {"to": "2026-13-01T00:00:00Z"},
        {"from": "2026-02-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"},
        {"from": "0001-01-01T00:00:00+01:00"},
        {"to": "9999-12-31T23:59:59-05:00"},
        {"before": str(10**30)},
        {"after": str(2**63)},
    ],
)
async def test_list_refuses_bad_query(env: Env, query: dict[str, str]) -> None:
    cid = await env.channel()
    status, body = await env.call("GET", f"/v1/channels/{cid}/messages", query=query)
    assert (status, body["error"]["code"]) == (400, "bad_request")
