"""``/v1/channels/{id}/messages/{mid}/reminders`` and ``/v1/reminders`` over REST."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support.api import Env, chat_env


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    async with chat_env(tmp_path) as e:
        yield e


async def test_remind_list_fire_cancel_and_bad_input(env: Env) -> None:
    cid = await env.channel(members=["bob"])
    mid = (await env.post(cid, "look at this"))["message_id"]
    path = f"/v1/channels/{cid}/messages/{mid}/reminders"
    status, r = await env.call("POST", path, "bob", json={"in_seconds": 3600, "note": "later"})
    assert status == 201 and r["state"] == "pending" and r["message_id"] == mid
    status, r2 = await env.call(
        "POST", path, "bob", json={"tomorrow_at": "09:00", "tz": "America/New_York"}
    )
    assert status == 201 and r2["remind_at"].endswith(("13:00:00.000000Z", "14:00:00.000000Z"))
    status, listed = await env.call("GET", "/v1/reminders", "bob", query={"pending": "true"})
    assert status == 200 and [x["id"] for x in listed["items"]] == [r["id"], r2["id"]]
    status, gone = await env.call("DELETE", f"/v1/reminders/{r2['id']}", "bob")
    assert status == 200 and gone["state"] == "cancelled"
    env.chat.jobs.clock = lambda: 4_000_000_000.0
    assert await env.chat.jobs.run_due() == 1
    [(topic, data)] = [(t, d) for t, d in env.sink.published if ".reminder." in t]
    assert topic == "events.acme.users.user.reminder.bob" and data["id"] == r["id"]
    status, body = await env.call("DELETE", f"/v1/reminders/{r['id']}", "bob")
    assert status == 409 and body["error"]["code"] == "conflict"
    for bad in ({}, {"in_seconds": "5"}, {"at": "yesterday"}, {"in_seconds": 5, "x": 1}):
        status, body = await env.call("POST", path, "bob", json=bad)
        assert status == 400 and body["error"]["code"] == "bad_request", bad
    assert (await env.call("POST", path, "eve", json={"in_seconds": 5}))[0] == 404
    assert (await env.call("POST", path, "bob", org="other", json={"in_seconds": 5}))[0] == 404
    assert (await env.call("DELETE", f"/v1/reminders/{r['id']}", "alice"))[0] == 404
