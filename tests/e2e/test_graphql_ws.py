"""GraphQL subscriptions over graphql-transport-ws against the whole service: live channel
events, notes, locks and mentions through the hub, membership-filtered, stopping on
``complete``; the protocol's handshake, ping and close codes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from parley.settings import Settings
from tests.conftest import make_token
from tests.e2e.test_graphql import CREATE, POST, gql
from tests.support.live import LiveApp, live_app
from tests.support.store import PgSchemas

TIMEOUT = 15
SUBPROTOCOL = "graphql-transport-ws"


@pytest.fixture(params=["sqlite", "postgres"])
def app(request: pytest.FixtureRequest, settings: Settings) -> Iterator[LiveApp]:
    if request.param == "postgres":
        schemas: PgSchemas = request.getfixturevalue("pg_schemas")
        settings = replace(settings, database_url=schemas.new())
    with live_app(settings) as live:
        yield live


def ws_url(app: LiveApp) -> str:
    return app.http_url.replace("http://", "ws://") + "/graphql"


class GqlWs:
    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws

    def send(self, message: dict[str, Any]) -> None:
        self.ws.send(json.dumps(message))

    def recv(self) -> dict[str, Any]:
        got: dict[str, Any] = json.loads(self.ws.recv(timeout=TIMEOUT))
        return got

    def sync(self) -> None:
        """A ping answered: every message sent before it was handled."""
        self.send({"type": "ping"})
        assert self.recv() == {"type": "pong"}

    def subscribe(self, sub_id: str, query: str, **variables: Any) -> None:
        self.send(
            {"id": sub_id, "type": "subscribe", "payload": {"query": query, "variables": variables}}
        )

    def next(self, sub_id: str) -> dict[str, Any]:
        msg = self.recv()
        assert msg["type"] == "next" and msg["id"] == sub_id, msg
        payload: dict[str, Any] = msg["payload"]
        return payload


@contextmanager
def client(app: LiveApp, user: str, *, org: str = "acme") -> Iterator[GqlWs]:
    with connect(ws_url(app), subprotocols=[SUBPROTOCOL]) as ws:  # type: ignore[list-item]
        c = GqlWs(ws)
        c.send(
            {
                "type": "connection_init",
                "payload": {"authorization": f"Bearer {make_token(user, org)}"},
            }
        )
        assert c.recv() == {"type": "connection_ack"}
        yield c


def test_subscription_receives_live_events_and_stops_on_complete(app: LiveApp) -> None:
    cid = gql(app, "alice", CREATE, members=["bob"])["createChannel"]["id"]
    with client(app, "bob") as bob, client(app, "eve") as eve:
        bob.subscribe(
            "ev",
            "subscription($c: ID!) { channelEvents(channel: $c) { channel seq event data } }",
            c=cid,
        )
        bob.subscribe(
            "notes",
            "subscription($c: ID) { notes(channel: $c) { event noteId note { title version } } }",
            c=cid,
        )
        bob.subscribe("locks", "subscription { locks { event reason lock { entity holder } } }")
        bob.subscribe("me", "subscription { mentions { channel messageId data } }")
        # a non-member gets the same not_found as REST, as an error message
        eve.subscribe("x", "subscription($c: ID!) { channelEvents(channel: $c) { seq } }", c=cid)
        err = eve.recv()
        assert err["type"] == "error" and err["id"] == "x"
        assert err["payload"][0]["extensions"]["code"] == "not_found"
        eve.subscribe("eve-locks", "subscription { locks { event } }")
        bob.sync()
        eve.sync()
        posted = gql(app, "alice", POST, c=cid, t="hello @bob")["postMessage"]
        ev = bob.next("ev")["data"]["channelEvents"]
        assert (ev["channel"], ev["seq"], ev["event"]) == (cid, posted["seq"], "message_posted")
        assert ev["data"]["text"] == "hello @bob"
        mention = bob.next("me")["data"]["mentions"]
        assert (mention["channel"], mention["messageId"]) == (cid, posted["id"])
        note = gql(
            app,
            "alice",
            'mutation($c: ID) { createNote(channel: $c, title: "Plan") { id } }',
            c=cid,
        )["createNote"]
        assert bob.next("ev")["data"]["channelEvents"]["event"] == "note_created"
        assert bob.next("notes")["data"]["notes"] == {
            "event": "note_created",
            "noteId": note["id"],
            "note": {"title": "Plan", "version": 1},
        }
        gql(
            app,
            "alice",
            "mutation($e: String!) { acquireLock(entity: $e) { holder } }",
            e=note["id"],
        )
        assert bob.next("locks")["data"]["locks"] == {
            "event": "acquired",
            "reason": None,
            "lock": {"entity": note["id"], "holder": "alice"},
        }
        # the note's lock reaches its channel's members only; a service's id the whole org
        gql(app, "alice", 'mutation { acquireLock(entity: "case:4711") { holder } }')
        assert eve.next("eve-locks")["data"]["locks"] == {"event": "acquired"}
        assert bob.next("locks")["data"]["locks"]["lock"]["entity"] == "case:4711"
        # complete stops the channel events; the other subscriptions go on
        bob.send({"id": "ev", "type": "complete"})
        bob.sync()
        gql(
            app,
            "alice",
            "mutation($e: String!) { releaseLock(entity: $e) { holder } }",
            e=note["id"],
        )
        assert bob.next("locks")["data"]["locks"]["reason"] == "released"
        gql(app, "alice", POST, c=cid, t="after complete")
        gql(app, "alice", "mutation($n: ID!) { deleteNote(id: $n) { id } }", n=note["id"])
        assert bob.next("notes")["data"]["notes"] == {
            "event": "note_deleted",
            "noteId": note["id"],
            "note": None,
        }
        bob.sync()  # nothing else arrived: the message went to the completed subscription only
        # a query over the socket: one next, then complete
        bob.subscribe("q", "{ me { userId } }")
        assert bob.next("q") == {"data": {"me": {"userId": "bob"}}}
        assert bob.recv() == {"type": "complete", "id": "q"}


def test_removed_member_stops_receiving(app: LiveApp) -> None:
    cid = gql(app, "alice", CREATE, members=["bob"])["createChannel"]["id"]
    with client(app, "bob") as bob:
        bob.subscribe(
            "ev", "subscription($c: ID!) { channelEvents(channel: $c) { event data } }", c=cid
        )
        bob.sync()
        gql(app, "alice", 'mutation($c: ID!) { removeMember(channel: $c, user: "bob") }', c=cid)
        assert bob.next("ev")["data"]["channelEvents"]["event"] == "member_removed"
        gql(app, "alice", POST, c=cid, t="secret")
        bob.sync()  # the post after the removal never reached bob


def test_protocol_close_codes(app: LiveApp) -> None:
    def closed_with(messages: list[dict[str, Any]], *, subprotocol: bool = True) -> int:
        protocols = [SUBPROTOCOL] if subprotocol else None
        with connect(ws_url(app), subprotocols=protocols) as ws:  # type: ignore[arg-type]
            for m in messages:
                ws.send(json.dumps(m))
            with pytest.raises(ConnectionClosed) as exc:
                while True:
                    ws.recv(timeout=TIMEOUT)
            assert exc.value.rcvd is not None
            return exc.value.rcvd.code

    init = {"type": "connection_init", "payload": {"token": make_token("bob")}}
    sub = {"id": "1", "type": "subscribe", "payload": {"query": "{ me { userId } }"}}
    assert closed_with([sub]) == 4401
    assert closed_with([{"type": "connection_init", "payload": {"token": "nope"}}]) == 4403
    assert closed_with([init, init]) == 4429
    assert closed_with([init, {"type": "what"}]) == 4400
    slow = {
        "id": "1",
        "type": "subscribe",
        "payload": {"query": "subscription { locks { event } }"},
    }
    assert closed_with([init, slow, slow]) == 4409
    assert closed_with([], subprotocol=False) == 4406
