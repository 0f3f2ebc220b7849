"""``/v1/channels/{id}/scheduled-messages`` and ``/v1/scheduled-messages/{id}``: the
whole life of one over REST, and bad input as JSON 4xx."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from tests.support.api import Env, chat_env


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    async with chat_env(tmp_path) as e:
        yield e


async def test_schedule_list_edit_send_cancel(env: Env) -> None:
    cid = await env.channel(members=["bob"])
    path = f"/v1/channels/{cid}/scheduled-messages"
    status, s = await env.call("POST", path, "bob", json={"text": "soon", "in_seconds": 3600})
    assert status == 201 and s["state"] == "scheduled" and s["author"] == "bob"
    assert s["send_at"].endswith("Z") and s["message_id"] is None
    later = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0)
    local = later.astimezone(timezone(timedelta(hours=1))).isoformat()
    status, other = await env.call("POST", path, "bob", json={"text": "drop", "send_at": local})
    assert status == 201 and other["send_at"] == later.strftime("%Y-%m-%dT%H:%M:%S.000000Z")
    status, listed = await env.call("GET", path, "bob")
    assert status == 200 and [x["id"] for x in listed["items"]] == [s["id"], other["id"]]
    assert (await env.call("GET", "/v1/scheduled-messages", "alice"))[1] == {"items": []}
    one = f"/v1/scheduled-messages/{s['id']}"
    status, edited = await env.call("PATCH", one, "bob", json={"text": "now", "in_seconds": 1})
    assert status == 200 and edited["text"] == "now"
    status, gone = await env.call("DELETE", f"/v1/scheduled-messages/{other['id']}", "bob")
    assert status == 200 and gone["state"] == "cancelled"
    env.chat.jobs.clock = lambda: 4_000_000_000.0  # its time has come
    assert await env.chat.jobs.run_due() == 1
    status, sent = await env.call("GET", one, "bob")
    assert status == 200 and sent["state"] == "sent"
    status, page = await env.call("GET", f"/v1/channels/{cid}/messages", "alice")
    assert [(m["id"], m["text"]) for m in page["items"]] == [(sent["message_id"], "now")]
    status, body = await env.call("PATCH", one, "bob", json={"text": "late"})
    assert status == 409 and body["error"]["code"] == "conflict"


async def test_bad_input_and_strangers(env: Env) -> None:
    cid = await env.channel(members=["bob"])
    path = f"/v1/channels/{cid}/scheduled-messages"
    for bad in (
        {"text": "x", "send_at": "2001-01-01T00:00:00Z"},
        {"text": "x"},
        {"text": "x", "in_seconds": "60"},
        {"text": "x", "in_seconds": -5},
        {"text": "x", "tomorrow_at": "9am"},
        {"text": "x", "tomorrow_at": "09:00", "tz": "Nowhere/Land"},
        {"text": "x", "in_seconds": 60, "tz": "UTC"},
        {"text": "x", "in_seconds": 60, "extra": 1},
        {"in_seconds": 60},
    ):
        status, body = await env.call("POST", path, "bob", json=bad)
        assert status == 400 and body["error"]["code"] == "bad_request", bad
    status, body = await env.call("POST", path, "eve", json={"text": "x", "in_seconds": 60})
    assert status == 404 and body["error"]["code"] == "not_found"
    status, body = await env.call(
        "POST", path, "bob", org="other", json={"text": "x", "in_seconds": 60}
    )
    assert status == 404
    status, s = await env.call("POST", path, "bob", json={"text": "x", "in_seconds": 60})
    one = f"/v1/scheduled-messages/{s['id']}"
    for who, org in (("alice", "acme"), ("bob", "other")):
        assert (await env.call("GET", one, who, org=org))[0] == 404
        assert (await env.call("DELETE", one, who, org=org))[0] == 404
        assert (await env.call("PATCH", one, who, org=org, json={"text": "y"}))[0] == 404
    assert (await env.call("GET", "/v1/scheduled-messages/nope", "bob"))[0] == 404
    assert (await env.call("GET", f"/v1/channels/{cid}/scheduled-messages", "eve"))[0] == 404
