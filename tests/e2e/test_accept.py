"""Accepting connections on the whole service (SQLite and PostgreSQL): the channel sets of
simultaneous accepts are loaded in one store read, and a membership change between that
read and its install still decides what the user receives (privacy is correctness)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from dataclasses import replace
from typing import Any

import pytest
import trio
from websockets.sync.client import ClientConnection, connect

from parley.broker.channelsets import ChannelSetLoader, UserKey
from parley.settings import Settings
from tests.conftest import make_token
from tests.e2e.test_channels import TIMEOUT, rest
from tests.support.live import LiveApp, live_app
from tests.support.store import PgSchemas


@pytest.fixture(params=["sqlite", "postgres"])
def app(request: pytest.FixtureRequest, settings: Settings) -> Iterator[LiveApp]:
    if request.param == "postgres":
        schemas: PgSchemas = request.getfixturevalue("pg_schemas")
        settings = replace(settings, database_url=schemas.new())
    with live_app(settings) as live:
        yield live


class HeldReads:
    """Wraps the broker's batched store read: read ``i`` is made, recorded, then its
    answer held until ``release(i)``."""

    def __init__(self, app: LiveApp, n: int) -> None:
        loader = app.running.broker.channel_sets
        assert isinstance(loader, ChannelSetLoader) and loader.running
        self.app = app
        self.inner = loader._fetch
        self.gates = [trio.Event() for _ in range(n)]
        self.made = [threading.Event() for _ in range(n)]
        self.reads: list[list[UserKey]] = []
        loader._fetch = self.fetch

    async def fetch(self, users: Sequence[UserKey]) -> dict[UserKey, set[str]]:
        sets = await self.inner(users)
        i = len(self.reads)
        self.reads.append(sorted(users))
        self.made[i].set()
        await self.gates[i].wait()
        return sets

    def wait_made(self, i: int) -> None:
        assert self.made[i].wait(TIMEOUT), f"read {i} not made"

    def release(self, i: int) -> None:
        self.app.call(self.gates[i].set)


@pytest.fixture
def stack() -> Iterator[ExitStack]:
    with ExitStack() as s:
        yield s


def open_ws(stack: ExitStack, app: LiveApp, user: str) -> ClientConnection:
    """Connected: the 101 comes before the user's channel set is loaded (no hello yet)."""
    headers = {"Authorization": f"Bearer {make_token(user)}"}
    return stack.enter_context(connect(app.ws_url, additional_headers=headers))


def recv(ws: ClientConnection) -> dict[str, Any]:
    msg: dict[str, Any] = json.loads(ws.recv(timeout=TIMEOUT))
    return msg


def call(ws: ClientConnection, cid: int, op: str, **body: Any) -> dict[str, Any]:
    ws.send(json.dumps({"id": cid, "op": op, **body}))
    while (msg := recv(ws)).get("id") != cid:
        pass
    return msg


def channel_topic(cid: str) -> str:
    return f"events.acme.conversations.conversation.*.{cid}"


def post(app: LiveApp, cid: str, text: str) -> None:
    status, _ = rest(app, "POST", f"/v1/channels/{cid}/messages", "alice", {"text": text})
    assert status == 201


def texts_until(ws: ClientConnection, marker: str) -> list[str]:
    """The texts of ``message_posted`` events received up to the one with ``marker``."""
    out = []
    while True:
        msg = recv(ws)
        if msg.get("type") == "event" and msg.get("event") == "message_posted":
            out.append(msg["data"]["text"])
            if msg["data"]["text"] == marker:
                return out


def nothing_of(ws: ClientConnection, cid: str, ping_id: int) -> None:
    """Up to the reply to a ping (sent after the posts), no event of channel ``cid``."""
    ws.send(json.dumps({"id": ping_id, "op": "ping"}))
    while (msg := recv(ws)).get("id") != ping_id:
        assert cid not in json.dumps(msg), msg


def test_simultaneous_accepts_share_one_store_read(app: LiveApp, stack: ExitStack) -> None:
    status, ch = rest(
        app, "POST", "/v1/channels", "alice", {"kind": "group", "name": "g", "members": ["u1"]}
    )
    assert status == 201
    held = HeldReads(app, 2)
    first = open_ws(stack, app, "u0")
    held.wait_made(0)  # u0's read is made and held; the others queue meanwhile
    others = [open_ws(stack, app, f"u{i}") for i in range(1, 6)]
    held.release(0)
    held.wait_made(1)
    held.release(1)
    for ws in (first, *others):
        assert recv(ws)["type"] == "hello"
    assert held.reads == [[("acme", "u0")], [("acme", f"u{i}") for i in range(1, 6)]]
    # each got its own set: u1 (a member) receives the channel's posts, u2 does not
    assert call(others[0], 1, "subscribe", topic=channel_topic(ch["id"]))["ok"] is True
    assert call(others[1], 1, "subscribe", topic="events.acme.>")["ok"] is True
    post(app, ch["id"], "x")
    assert texts_until(others[0], "x") == ["x"]
    nothing_of(others[1], ch["id"], 2)


def test_membership_changes_between_read_and_install_decide_delivery(
    app: LiveApp, stack: ExitStack
) -> None:
    """bob and carol are read together while bob is a member and carol is not; before that
    read is installed bob is removed and carol added. bob gets nothing of the channel, carol
    its posts: the hub records a user's membership changes from the attach on and replays
    them over the loaded set."""
    status, ch = rest(
        app, "POST", "/v1/channels", "alice", {"kind": "group", "name": "g", "members": ["bob"]}
    )
    assert status == 201
    cid = ch["id"]
    held = HeldReads(app, 2)
    x = open_ws(stack, app, "x")
    held.wait_made(0)
    bob, carol = open_ws(stack, app, "bob"), open_ws(stack, app, "carol")
    held.release(0)
    held.wait_made(1)
    assert held.reads[1] == [("acme", "bob"), ("acme", "carol")]
    assert rest(app, "DELETE", f"/v1/channels/{cid}/members/bob", "alice")[0] == 204
    added = rest(app, "POST", f"/v1/channels/{cid}/members", "alice", {"user_id": "carol"})
    assert added[0] == 201
    held.release(1)
    for ws in (x, bob, carol):
        assert recv(ws)["type"] == "hello"
    assert call(carol, 1, "subscribe", topic=channel_topic(cid))["ok"] is True
    assert call(bob, 1, "subscribe", topic="events.acme.>")["ok"] is True
    post(app, cid, "after")
    assert texts_until(carol, "after") == ["after"]
    nothing_of(bob, cid, 2)
