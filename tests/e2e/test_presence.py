"""Presence and typing end to end: two real WebSocket clients (python-websockets) against
the whole service, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import replace
from typing import Any

import pytest

from parley.broker.presence import PresenceConfig
from parley.settings import Settings
from tests.e2e.test_channels import TOPIC, Client, dial, rest
from tests.support.live import LiveApp, live_app
from tests.support.store import PgSchemas


@pytest.fixture(params=["sqlite", "postgres"])
def app(
    request: pytest.FixtureRequest, settings: Settings
) -> Iterator[LiveApp]:
    settings = replace(settings, presence=PresenceConfig(flush_interval=0.05))
    if request.param == "postgres":
        schemas: PgSchemas = request.getfixturevalue("pg_schemas")
        settings = replace(settings, database_url=schemas.new())
    with live_app(settings) as live:
        yield live


def presence_until(c: Client, user: str, status: str) -> dict[str, Any]:
    """Read until a presence frame says ``user`` is ``status``; return that entry."""
    while True:
        msg = c.recv()
        if msg.get("type") == "presence":
            for entry in msg["users"]:
                if entry["user_id"] == user and entry["status"] == status:
                    return dict(entry)
        else:
            c.pushes.append(msg)


def channel(app: LiveApp, owner: str, *members: str) -> str:
    status, ch = rest(
        app, "POST", "/v1/channels", owner, {"kind": "group", "name": "x", "members": members}
    )
    assert status == 201, ch
    cid: str = ch["id"]
    return cid


def test_two_clients_see_each_others_presence_and_typing(app: LiveApp) -> None:
    cid = channel(app, "alice", "bob")
    lone = channel(app, "carol")
    with ExitStack() as stack:
        bob = dial(stack, app, "bob")
        assert bob.call("subscribe", topic=TOPIC)["ok"]
        with ExitStack() as alice_stack:
            alice = dial(alice_stack, app, "alice")
            assert alice.call("subscribe", topic=TOPIC)["ok"]
            assert presence_until(bob, "alice", "online")["last_seen"].endswith("Z")
            presence_until(alice, "bob", "online")  # her first frame: who is here

            # typing: pushed live to the other member, not stored, refused elsewhere
            reply = alice.call("typing", channel=cid)
            assert reply["ok"] and reply["sent"] is True
            (typing,) = bob.events(1, "typing")
            assert typing["channel"] == cid
            assert typing["data"]["user_id"] == "alice"
            assert typing["data"]["expires_in"] > 0
            assert "seq" not in typing
            refused = alice.call("typing", channel=lone)
            assert refused["error"]["code"] == "not_found"

            # away by the client's say-so, then back
            assert alice.call("presence", status="away")["status"] == "away"
            presence_until(bob, "alice", "away")
            status, body = rest(app, "GET", "/v1/presence?users=alice,bob,nobody", "carol")
            assert status == 200
            assert [(u["user_id"], u["status"]) for u in body["users"]] == [
                ("alice", "away"),
                ("bob", "online"),
                ("nobody", "offline"),
            ]
            assert alice.call("presence", status="online")["status"] == "online"
            presence_until(bob, "alice", "online")
        # alice disconnected
        gone = presence_until(bob, "alice", "offline")
        assert gone["last_seen"] is not None
        _, body = rest(app, "GET", "/v1/presence?users=alice", "bob")
        assert body["users"][0]["status"] == "offline"
        # the log holds no typing event
        _, page = rest(app, "GET", f"/v1/channels/{cid}/messages", "bob")
        assert page["items"] == []
        # other org: presence is per org
        _, other = rest(app, "GET", "/v1/presence?users=bob", "bob", org="globex")
        assert other["users"][0]["status"] == "offline"


@pytest.mark.parametrize(
    "query", ["", "?users=", "?users=" + ",".join(f"u{i}" for i in range(101))]
)
def test_presence_rest_refuses_bad_lists(app: LiveApp, query: str) -> None:
    status, body = rest(app, "GET", f"/v1/presence{query}", "alice")
    assert status == 400
    assert body["error"]["code"] == "bad_request"
