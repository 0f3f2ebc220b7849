"""Notes and entity locks over REST: the same refusals as every resource, the 409 of a
stale edit and of a contended lock, both with their facts in ``error.details``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support.api import Env, chat_env


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    async with chat_env(tmp_path) as e:
        yield e


async def test_notes_over_rest(env: Env) -> None:
    _, ch = await env.call(
        "POST", "/v1/channels", json={"kind": "group", "name": "g", "members": ["bob"]}
    )
    cid = ch["id"]
    status, note = await env.call(
        "POST", f"/v1/channels/{cid}/notes", json={"title": "Spec", "body": "# Scope\n- a"}
    )
    assert status == 201 and (note["version"], note["authors"], note["channel"]) == (
        1,
        ["alice"],
        cid,
    )
    path = f"/v1/notes/{note['id']}"
    status, edited = await env.call(
        "PATCH", path, "bob", json={"base_version": 1, "body": "# Scope\n- a\n- b"}
    )
    assert status == 200 and edited["version"] == 2 and edited["authors"] == ["alice", "bob"]
    status, body = await env.call("PATCH", path, "alice", json={"base_version": 1, "title": "x"})
    assert (status, body["error"]["code"]) == (409, "conflict")
    assert body["error"]["details"]["current"]["version"] == 2
    status, versions = await env.call("GET", f"{path}/versions", "bob")
    assert [v["version"] for v in versions["items"]] == [1, 2]
    status, listed = await env.call("GET", f"/v1/channels/{cid}/notes", "bob")
    assert [n["id"] for n in listed["items"]] == [note["id"]]
    for user, org in (("eve", "acme"), ("alice", "globex")):
        assert (await env.call("GET", path, user, org=org))[0] == 404
        assert (await env.call("PATCH", path, user, org=org, json={"base_version": 2}))[0] == 404
        assert (await env.call("DELETE", path, user, org=org))[0] == 404
    assert (await env.call("GET", f"/v1/channels/{cid}/notes", "eve"))[0] == 404
    status, body = await env.call("POST", f"/v1/channels/{cid}/notes", json={"title": "t", "x": 1})
    assert (status, body["error"]["code"]) == (400, "bad_request")
    status, body = await env.call(
        "POST", f"/v1/channels/{cid}/notes", json={"title": "t", "body": "####### h"}
    )
    assert (status, body["error"]["code"]) == (400, "bad_request")
    assert (await env.call("DELETE", path, "bob"))[0] == 403  # not the creator, not a moderator
    assert (await env.call("DELETE", path, "alice"))[0] == 200
    assert (await env.call("GET", path, "alice"))[0] == 404
    status, mine = await env.call("POST", "/v1/notes", "bob", json={"title": "mine"})
    assert status == 201 and mine["owner"] == "bob"
    assert [n["id"] for n in (await env.call("GET", "/v1/notes", "bob"))[1]["items"]] == [
        mine["id"]
    ]
    assert (await env.call("GET", f"/v1/notes/{mine['id']}", "alice"))[0] == 404


async def test_locks_over_rest(env: Env) -> None:
    status, lock = await env.call("POST", "/v1/locks/case:4711", json={"ttl": 60})
    assert status == 200 and (lock["entity"], lock["holder"]) == ("case:4711", "alice")
    status, body = await env.call("POST", "/v1/locks/case:4711", "bob", json={})
    assert (status, body["error"]["code"]) == (409, "conflict")
    assert body["error"]["details"]["lock"]["holder"] == "alice"
    assert lock["expires_at"] in body["error"]["message"]
    assert (await env.call("GET", "/v1/locks/case:4711", "bob"))[1]["holder"] == "alice"
    assert (await env.call("GET", "/v1/locks/case:4711", "bob", org="globex"))[0] == 404
    assert (await env.call("PUT", "/v1/locks/case:4711", json={"ttl": 120}))[0] == 200
    assert (await env.call("PUT", "/v1/locks/case:4711", "bob", json={}))[0] == 409
    assert (await env.call("DELETE", "/v1/locks/case:4711", "bob"))[0] == 409
    status, listed = await env.call("GET", "/v1/locks", "bob")
    assert [lk["entity"] for lk in listed["items"]] == ["case:4711"]
    assert (await env.call("DELETE", "/v1/locks/case:4711"))[0] == 200
    assert (await env.call("DELETE", "/v1/locks/case:4711"))[0] == 404
    assert (await env.call("POST", "/v1/locks/a b", json={}))[0] == 400
    assert (await env.call("POST", "/v1/locks/x", json={"ttl": 0}))[0] == 400
    assert (await env.call("POST", "/v1/locks/case:4711", "bob", json={}))[0] == 200
    topics = [t for t, _ in env.sink.published if ".locks." in t]
    assert topics[0] == "events.acme.locks.lock.acquired.case_3a4711"
    assert topics[-2:] == [
        "events.acme.locks.lock.released.case_3a4711",
        "events.acme.locks.lock.acquired.case_3a4711",
    ]
