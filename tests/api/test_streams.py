"""Streamed bot messages over REST: pushes in order, one persisted message, catch-up."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.api import Env, chat_env

SERVICE = ("service",)


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    async with chat_env(tmp_path) as e:
        yield e


async def open_stream(env: Env, cid: str, user: str = "alice", **kw: Any) -> str:
    status, body = await env.call("POST", f"/v1/channels/{cid}/streams", user, **kw)
    assert status == 201, body
    assert (body["state"], body["index"], body["text"]) == ("open", 0, "")
    sid: str = body["stream_id"]
    return sid


async def test_chunks_are_pushed_in_order_and_complete_persists_one_message(env: Env) -> None:
    cid = await env.channel()
    sid = await open_stream(env, cid)
    base = f"/v1/channels/{cid}/streams/{sid}"
    for i, chunk in enumerate(["Hel", "lo, ", "world"], start=1):
        status, ack = await env.call("POST", f"{base}/chunks", json={"chunk": chunk})
        assert (status, ack) == (200, {"stream_id": sid, "index": i, "state": "open"})
    seq_before = (await env.call("GET", f"/v1/channels/{cid}"))[1]["last_seq"]

    status, done = await env.call("POST", f"{base}/complete")
    assert status == 200
    assert (done["state"], done["text"], done["index"]) == ("completed", "Hello, world", 4)
    assert done["seq"] == seq_before + 1
    assert done["ts"].endswith("Z")

    pushes = env.sink.pushed("message_stream", cid)
    assert [(p["index"], p["state"], p["chunk"]) for p in pushes] == [
        (0, "open", ""),
        (1, "chunk", "Hel"),
        (2, "chunk", "lo, "),
        (3, "chunk", "world"),
        (4, "completed", ""),
    ]
    assert all(p["stream_id"] == sid and p["author"] == "alice" for p in pushes)
    assert pushes[-1]["message_id"] == done["message_id"]
    assert pushes[-1]["seq"] == done["seq"]

    # exactly one message, with one seq, holding the whole text
    status, page = await env.call("GET", f"/v1/channels/{cid}/messages", "bob")
    assert [(m["text"], m["seq"], m["author"]) for m in page["items"]] == [
        ("Hello, world", done["seq"], "alice")
    ]
    posted = [e for e in env.sink.channel_events if str(e.event) == "message_posted"]
    assert [e.seq for e in posted] == [done["seq"]]

    # a retried complete answers the same and persists nothing more
    status, again = await env.call("POST", f"{base}/complete")
    assert (status, again) == (200, done)
    assert len(env.sink.pushed("message_stream")) == 5
    # a finished stream takes no more chunks
    status, err = await env.call("POST", f"{base}/chunks", json={"chunk": "late"})
    assert (status, err["error"]["code"]) == (409, "conflict")


async def test_get_mid_stream_gives_text_so_far_and_last_index(env: Env) -> None:
    cid = await env.channel()
    sid = await open_stream(env, cid)
    base = f"/v1/channels/{cid}/streams/{sid}"
    await env.call("POST", f"{base}/chunks", json={"chunk": "one "})
    await env.call("POST", f"{base}/chunks", json={"chunk": "two "})
    status, snap = await env.call("GET", base, "bob")
    assert status == 200
    assert (snap["state"], snap["text"], snap["index"]) == ("open", "one two ", 2)
    await env.call("POST", f"{base}/chunks", json={"chunk": "three"})
    # the catch-up rule: apply pushed chunks with a higher index than the snapshot's
    later = [p for p in env.sink.pushed("message_stream", cid) if p["index"] > snap["index"]]
    assert snap["text"] + "".join(p["chunk"] for p in later) == "one two three"


async def test_cancel_persists_nothing(env: Env) -> None:
    cid = await env.channel()
    sid = await open_stream(env, cid)
    base = f"/v1/channels/{cid}/streams/{sid}"
    await env.call("POST", f"{base}/chunks", json={"chunk": "never mind"})
    status, body = await env.call("POST", f"{base}/cancel")
    assert (status, body["state"], body["index"]) == (200, "cancelled", 2)
    assert env.sink.pushed("message_stream")[-1]["state"] == "cancelled"
    assert (await env.call("POST", f"{base}/cancel"))[0] == 200  # a retry is fine
    assert (await env.call("POST", f"{base}/complete"))[0] == 409
    assert (await env.call("GET", f"/v1/channels/{cid}/messages"))[1]["items"] == []


async def test_chunk_index_retries_and_gaps(env: Env) -> None:
    cid = await env.channel()
    sid = await open_stream(env, cid)
    url = f"/v1/channels/{cid}/streams/{sid}/chunks"
    assert (await env.call("POST", url, json={"chunk": "a", "index": 1}))[0] == 200
    # a retry of the last chunk is accepted once and pushes nothing
    status, ack = await env.call("POST", url, json={"chunk": "a", "index": 1})
    assert (status, ack["index"]) == (200, 1)
    status, err = await env.call("POST", url, json={"chunk": "c", "index": 3})
    assert (status, err["error"]["code"]) == (409, "conflict")
    assert [p["index"] for p in env.sink.pushed("message_stream")] == [0, 1]


async def test_services_stream_into_any_channel_of_their_org(env: Env) -> None:
    cid = await env.channel("broadcast", name="news")
    sid = await open_stream(env, cid, "bot", roles=SERVICE)
    base = f"/v1/channels/{cid}/streams/{sid}"
    await env.call("POST", f"{base}/chunks", "bot", roles=SERVICE, json={"chunk": "beep"})
    status, done = await env.call("POST", f"{base}/complete", "bot", roles=SERVICE)
    assert (status, done["text"]) == (200, "beep")
    page = (await env.call("GET", f"/v1/channels/{cid}/messages", "bob"))[1]
    assert page["items"][0]["author"] == "bot"
    # but not into another org's
    status, _ = await env.call(
        "POST", f"/v1/channels/{cid}/streams", "bot", org="other", roles=SERVICE
    )
    assert status == 404


async def test_who_may_stream(env: Env) -> None:
    cid = await env.channel("broadcast", name="news", members=["bob"])
    url = f"/v1/channels/{cid}/streams"
    status, err = await env.call("POST", url, "bob")  # readers of a broadcast do not post
    assert (status, err["error"]["code"]) == (403, "forbidden")
    assert (await env.call("POST", url, "mallory"))[0] == 404
    assert (await env.call("POST", url, "alice", org="other"))[0] == 404
    assert (await env.call("POST", "/v1/channels/ch_nope/streams"))[0] == 404
    sid = await open_stream(env, cid)
    base = f"{url}/{sid}"
    # only the author drives it; others (even the channel's admins) see 404
    await env.call(
        "POST", f"/v1/channels/{cid}/members", json={"user_id": "carol", "role": "admin"}
    )
    for action in ("complete", "cancel"):
        assert (await env.call("POST", f"{base}/{action}", "carol"))[0] == 404
    assert (await env.call("POST", f"{base}/chunks", "carol", json={"chunk": "x"}))[0] == 404
    # members read it; outsiders and other channels do not
    assert (await env.call("GET", base, "bob"))[0] == 200
    assert (await env.call("GET", base, "mallory"))[0] == 404
    other = await env.channel(name="other")
    assert (await env.call("GET", f"/v1/channels/{other}/streams/{sid}"))[0] == 404
    assert (await env.call("GET", f"{url}/nope"))[0] == 404


@pytest.mark.parametrize(
    ("payload", "status", "code"),
    [
        ({}, 400, "bad_request"),
        ({"chunk": ""}, 400, "bad_request"),
        ({"chunk": 5}, 400, "bad_request"),
        ({"chunk": "x", "index": "1"}, 400, "bad_request"),
        ({"chunk": "x" * (16 * 1024 + 1)}, 413, "payload_too_large"),
    ],
)
async def test_bad_chunks(env: Env, payload: object, status: int, code: str) -> None:
    cid = await env.channel()
    sid = await open_stream(env, cid)
    got, body = await env.call("POST", f"/v1/channels/{cid}/streams/{sid}/chunks", json=payload)
    assert (got, body["error"]["code"]) == (status, code)


async def test_completing_an_empty_stream_is_refused(env: Env) -> None:
    cid = await env.channel()
    sid = await open_stream(env, cid)
    status, body = await env.call("POST", f"/v1/channels/{cid}/streams/{sid}/complete")
    assert (status, body["error"]["code"]) == (400, "bad_request")
    # still open: it can go on
    url = f"/v1/channels/{cid}/streams/{sid}/chunks"
    assert (await env.call("POST", url, json={"chunk": "ok"}))[0] == 200
