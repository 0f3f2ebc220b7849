"""Issue "durable channels" end to end, on SQLite and PostgreSQL: REST + real WebSocket
clients against the whole service running on 127.0.0.1."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import replace
from typing import Any

import pytest
from websockets.sync.client import ClientConnection, connect

from parley.settings import Settings
from tests.conftest import make_token
from tests.support.live import LiveApp, live_app
from tests.support.store import PgSchemas

TIMEOUT = 15
TOPIC = "events.acme.conversations.conversation.>"


@pytest.fixture(params=["sqlite", "postgres"])
def app(request: pytest.FixtureRequest, settings: Settings) -> Iterator[LiveApp]:
    if request.param == "postgres":
        schemas: PgSchemas = request.getfixturevalue("pg_schemas")
        settings = replace(settings, database_url=schemas.new())
    with live_app(settings) as live:
        yield live


def rest(
    app: LiveApp,
    method: str,
    path: str,
    user: str,
    body: Any = None,
    *,
    org: str = "acme",
    roles: tuple[str, ...] = (),
) -> tuple[int, Any]:
    req = urllib.request.Request(
        app.http_url + path,
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={
            "Authorization": f"Bearer {make_token(user, org, roles=roles)}",
            "Content-Type": "application/json",
        },
    )
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"null")


class Client:
    """A python-websockets client that keeps pushes apart from replies."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.pushes: list[dict[str, Any]] = []
        self.next_id = 1
        assert self.recv()["type"] == "hello"

    def recv(self) -> dict[str, Any]:
        msg: dict[str, Any] = json.loads(self.ws.recv(timeout=TIMEOUT))
        return msg

    def call(self, op: str, **body: Any) -> dict[str, Any]:
        cid, self.next_id = self.next_id, self.next_id + 1
        self.ws.send(json.dumps({"id": cid, "op": op, **body}))
        while True:
            msg = self.recv()
            if msg.get("id") == cid and "ok" in msg:
                return msg
            self.pushes.append(msg)

    def events(self, n: int, event: str = "message_posted") -> list[dict[str, Any]]:
        """The next n pushes of that event (earlier buffered pushes first)."""
        out = [p for p in self.pushes if p.get("event") == event]
        self.pushes = [p for p in self.pushes if p.get("event") != event]
        while len(out) < n:
            msg = self.recv()
            if msg.get("event") == event:
                out.append(msg)
            else:
                self.pushes.append(msg)
        assert len(out) == n, out
        return out


def dial(stack: ExitStack, app: LiveApp, user: str, org: str = "acme") -> Client:
    headers = {"Authorization": f"Bearer {make_token(user, org)}"}
    return Client(stack.enter_context(connect(app.ws_url, additional_headers=headers)))


def test_channel_life_end_to_end(app: LiveApp) -> None:
    status, ch = rest(
        app,
        "POST",
        "/v1/channels",
        "svc",
        {"kind": "group", "name": "launch", "members": ["alice", "bob", "carol"]},
        roles=("service",),
    )
    assert status == 201, ch
    cid = ch["id"]
    assert ch["member_count"] == 4

    with ExitStack() as stack:
        alice, bob, carol, carol2 = (
            dial(stack, app, u) for u in ("alice", "bob", "carol", "carol")
        )
        for c in (alice, bob, carol, carol2):
            assert c.call("subscribe", topic=TOPIC)["ok"]

        # Posts over WS and REST reach every member in seq order.
        replies = [alice.call("post", channel=cid, text=f"hello {i}") for i in range(5)]
        status, rest_post = rest(
            app,
            "POST",
            f"/v1/channels/{cid}/messages",
            "bob",
            {"text": "from rest", "idempotency_key": "k1"},
        )
        assert status == 201
        seqs = [r["seq"] for r in replies] + [rest_post["seq"]]
        assert seqs == list(range(seqs[0], seqs[0] + 6))
        for c in (alice, bob, carol, carol2):
            got = c.events(6)
            assert [e["seq"] for e in got] == seqs
            assert all(e["channel"] == cid for e in got)
            assert got[-1]["data"]["text"] == "from rest"

        # Idempotent retry: same message, same seq, nothing new delivered.
        status, again = rest(
            app,
            "POST",
            f"/v1/channels/{cid}/messages",
            "bob",
            {"text": "from rest", "idempotency_key": "k1"},
        )
        assert (status, again["seq"], again["message_id"]) == (
            200,
            rest_post["seq"],
            rest_post["message_id"],
        )

        # Carol drops off; 100 messages go by; she comes back with her last seq.
        last_seen = seqs[-1]
        carol.ws.close()
        missed = [alice.call("post", channel=cid, text=f"missed {i}")["seq"] for i in range(100)]
        assert missed == list(range(last_seen + 1, last_seen + 101))
        back = dial(stack, app, "carol")
        back.ws.send(
            json.dumps({"id": 99, "op": "subscribe", "topic": TOPIC, "since": {cid: last_seen}})
        )
        alice.call("post", channel=cid, text="live after reconnect")
        replayed: list[int] = []
        reply = None
        while reply is None:
            msg = back.recv()
            if msg.get("id") == 99:
                reply = msg
            elif msg.get("event") == "message_posted":
                replayed.append(msg["seq"])
        assert reply["ok"] and reply["recovery"][cid]["recovered"] is True
        live = [e["seq"] for e in back.events(1 if len(replayed) == 100 else 0)]
        assert replayed + live == list(range(last_seen + 1, last_seen + 102))

        # Read receipts: bob reads up to the middle; others see a receipt push.
        mid = missed[49]
        assert bob.call("read", channel=cid, seq=mid) == {
            "id": bob.next_id - 1,
            "ok": True,
            "channel": cid,
            "read_seq": mid,
        }
        receipt = alice.events(1, "read_receipt")[0]
        assert receipt["data"] == {"user_id": "bob", "seq": mid}
        status, receipts = rest(app, "GET", f"/v1/channels/{cid}/receipts", "alice")
        assert status == 200
        assert {r["user_id"]: r["read_seq"] for r in receipts["items"]}["bob"] == mid

        # Unread for bob: every message after his read position not written by him.
        status, mine = rest(app, "GET", "/v1/channels", "bob")
        entry = next(c for c in mine["items"] if c["id"] == cid)
        last = last_seen + 101
        assert entry["unread"] == last - mid
        # Carol has read nothing; two devices, one count.
        assert carol2.call("read", channel=cid, seq=last)["read_seq"] == last
        status, hers = rest(app, "GET", "/v1/channels", "carol")
        assert next(c for c in hers["items"] if c["id"] == cid)["unread"] == 0

        # Another org reaches none of it.
        for path in (
            f"/v1/channels/{cid}",
            f"/v1/channels/{cid}/messages",
            f"/v1/channels/{cid}/members",
            f"/v1/channels/{cid}/receipts",
        ):
            status, body = rest(app, "GET", path, "alice", org="globex")
            assert status == 404, (path, body)
            assert body["error"]["code"] == "not_found"
        status, body = rest(
            app, "POST", f"/v1/channels/{cid}/messages", "eve", {"text": "hi"}, org="globex"
        )
        assert status == 404
        eve = dial(stack, app, "eve", org="globex")
        reply = eve.call(
            "subscribe", topic="events.globex.conversations.conversation.>", since={cid: 0}
        )
        assert reply["recovery"][cid]["error"]["code"] == "not_found"
        assert eve.call("post", channel=cid, text="x")["error"]["code"] == "not_found"
