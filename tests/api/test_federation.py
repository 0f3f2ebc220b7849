"""``/v1/channels/{id}/federation`` and the Matrix application-service endpoints: who
links, what a channel's federation shows, and bad input as JSON 4xx (or Matrix errors)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest

from parley.domain.federation import FederationConfig, MatrixConfig
from tests.support.api import Env, chat_env, make_settings

MATRIX = MatrixConfig("http://127.0.0.1:1", "hs.test", "as-token", "hs-token")


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    settings = replace(make_settings(), federation=FederationConfig(matrix=MATRIX))
    async with chat_env(tmp_path, settings) as e:
        yield e


async def test_link_show_unlink(env: Env) -> None:
    cid = await env.channel(members=["bob"])
    path = f"/v1/channels/{cid}/federation"
    link = {"network": "matrix", "remote": "!room:hs.test"}
    status, body = await env.call("POST", path, "bob", json=link)
    assert (status, body["error"]["code"]) == (403, "forbidden")
    status, body = await env.call("POST", path, "eve", org="other", roles=["admin"], json=link)
    assert (status, body["error"]["code"]) == (404, "not_found")
    for bad in (
        {"network": "irc", "remote": "x"},
        {"network": "matrix"},
        {"network": "matrix", "remote": "no room"},
        [1],
    ):
        status, body = await env.call("POST", path, "root", roles=["admin"], json=bad)
        assert status == 400, (bad, body)
    status, body = await env.call("POST", path, "root", roles=["admin"], json=link)
    assert status == 201 and body["room_id"] == "!room:hs.test" and body["network"] == "matrix"
    status, body = await env.call(
        "POST", path, "root", roles=["admin"], json={"network": "xmpp", "remote": "room@muc.test"}
    )
    assert (status, body["error"]["code"]) == (409, "conflict")  # no XMPP bridge here
    status, body = await env.call("GET", path, "bob")
    assert status == 200 and [lk["remote"] for lk in body["links"]] == ["!room:hs.test"]
    assert body["remote_members"] == []
    assert (await env.call("GET", path, "mallory"))[0] == 404
    assert (await env.call("DELETE", path, "bob"))[0] == 403
    assert (await env.call("DELETE", path, "root", roles=["admin"]))[0] == 204
    assert (await env.call("DELETE", path, "root", roles=["admin"]))[0] == 404


async def test_appservice_transactions(env: Env) -> None:
    cid = await env.channel(members=["bob"])
    await env.call(
        "POST",
        f"/v1/channels/{cid}/federation",
        "root",
        roles=["admin"],
        json={"network": "matrix", "remote": "!room:hs.test"},
    )
    event = {
        "type": "m.room.message",
        "room_id": "!room:hs.test",
        "sender": "@m:hs.test",
        "event_id": "$1",
        "content": {"msgtype": "m.text", "body": "hi", "formatted_body": "<img src=x>"},
    }
    url = "/_matrix/app/v1/transactions/1"
    resp = await env.client.put(url, json={"events": [event]})
    assert resp.status_code == 401 and (await resp.get_json())["errcode"] == "M_UNAUTHORIZED"
    auth = {"Authorization": "Bearer hs-token"}
    bad = await env.client.put(url, data=b"[", headers=auth)
    assert bad.status_code == 400
    for _ in range(2):  # a redelivery changes nothing
        resp = await env.client.put(url, json={"events": [event]}, headers=auth)
        assert resp.status_code == 200
    _, page = await env.call("GET", f"/v1/channels/{cid}/messages", "bob")
    assert [(m["author"], m["text"]) for m in page["items"]] == [("matrix:@m:hs.test", "hi")]
    # The same event in another transaction: still once.
    resp = await env.client.put(
        "/_matrix/app/v1/transactions/2", json={"events": [event]}, headers=auth
    )
    assert resp.status_code == 200
    assert len((await env.call("GET", f"/v1/channels/{cid}/messages", "bob"))[1]["items"]) == 1
    puppet = "/_matrix/app/v1/users/@parley_acme_bob:hs.test?access_token=hs-token"
    assert (await env.client.get(puppet)).status_code == 200
    other = "/_matrix/app/v1/users/@someone:hs.test?access_token=hs-token"
    assert (await env.client.get(other)).status_code == 404


async def test_remote_typing_and_receipts_are_pushed_live(env: Env) -> None:
    cid = await env.channel(members=["bob"])
    await env.call(
        "POST",
        f"/v1/channels/{cid}/federation",
        "root",
        roles=["admin"],
        json={"network": "matrix", "remote": "!room:hs.test"},
    )
    auth = {"Authorization": "Bearer hs-token"}
    event = {
        "type": "m.room.message",
        "room_id": "!room:hs.test",
        "sender": "@m:hs.test",
        "event_id": "$1",
        "content": {"msgtype": "m.text", "body": "hi"},
    }
    ephemeral = [
        {
            "type": "m.typing",
            "room_id": "!room:hs.test",
            "content": {"user_ids": ["@m:hs.test", "@parley_acme_bob:hs.test"]},
        },
        {
            "type": "m.receipt",
            "room_id": "!room:hs.test",
            "content": {"$1": {"m.read": {"@m:hs.test": {"ts": 1}}}},
        },
        {
            "type": "m.typing",
            "room_id": "!elsewhere:hs.test",
            "content": {"user_ids": ["@x:hs.test"]},
        },
    ]
    resp = await env.client.put(
        "/_matrix/app/v1/transactions/e1",
        headers=auth,
        json={"events": [event], "ephemeral": ephemeral},
    )
    assert resp.status_code == 200
    typing = env.sink.pushed("typing", cid)
    assert [t["user_id"] for t in typing] == ["matrix:@m:hs.test"]  # not our puppet's
    (receipt,) = env.sink.pushed("read_receipt", cid)
    assert receipt["user_id"] == "matrix:@m:hs.test" and receipt["seq"] >= 1
