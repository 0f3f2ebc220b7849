"""Privacy through real clients against the whole service (issue "access, privacy and
robustness"), on SQLite and PostgreSQL: what a member could not read over REST never
reaches them over the WebSocket either."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import replace
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed

from parley.settings import Settings
from tests.e2e.test_channels import Client, dial, rest
from tests.support.live import LiveApp, live_app
from tests.support.store import PgSchemas

TOPIC = "events.acme.conversations.conversation.>"
SECRET = "the password is hunter2"


@pytest.fixture(params=["sqlite", "postgres"])
def app(request: pytest.FixtureRequest, settings: Settings) -> Iterator[LiveApp]:
    if request.param == "postgres":
        schemas: PgSchemas = request.getfixturevalue("pg_schemas")
        settings = replace(settings, database_url=schemas.new())
    with live_app(settings) as live:
        yield live


def ok(status: int, body: Any, expected: int = 200) -> Any:
    assert status == expected, body
    return body


def replay(c: Client, cid: str, since: int = 0) -> list[dict[str, Any]]:
    """Subscribe with ``since`` and return the replayed events (the reply comes after)."""
    c.ws.send(json.dumps({"id": 77, "op": "subscribe", "topic": TOPIC, "since": {cid: since}}))
    events: list[dict[str, Any]] = []
    while True:
        msg = c.recv()
        if msg.get("id") == 77:
            assert msg["ok"] and msg["recovery"][cid]["recovered"] is True, msg
            return events
        if msg.get("type") == "event":
            events.append(msg)


def test_deleted_and_edited_text_never_comes_back_through_replay(app: LiveApp) -> None:
    _, ch = rest(
        app, "POST", "/v1/channels", "alice", {"kind": "group", "members": ["bob"], "name": "g"}
    )
    cid = ch["id"]
    base = f"/v1/channels/{cid}/messages"
    secret = ok(*rest(app, "POST", base, "alice", {"text": SECRET}), 201)["message_id"]
    edited = ok(*rest(app, "POST", base, "alice", {"text": "draft one"}), 201)["message_id"]
    ok(*rest(app, "PATCH", f"{base}/{secret}", "alice", {"text": "rotated, see vault"}))
    ok(*rest(app, "PATCH", f"{base}/{edited}", "alice", {"text": "final"}))
    status, _ = rest(app, "DELETE", f"{base}/{secret}", "alice")
    assert status in (200, 204)
    # REST: the deleted message has no text and no versions; bob may not see versions
    shown = ok(*rest(app, "GET", f"{base}/{secret}", "alice"))
    assert shown["text"] == "" and shown["deleted"] is True
    assert rest(app, "GET", f"{base}/{secret}/versions", "alice")[0] == 404
    assert rest(app, "GET", f"{base}/{edited}/versions", "bob")[0] == 403
    # frank, added later, replays the whole log; bob (no versions) replays it too
    ok(*rest(app, "POST", f"/v1/channels/{cid}/members", "alice", {"user_id": "frank"}), 201)
    with ExitStack() as stack:
        for user in ("frank", "bob"):
            events = replay(dial(stack, app, user), cid)
            text = json.dumps(events)
            assert "hunter2" not in text and "rotated" not in text and "draft one" not in text
            posted = {e["data"]["id"]: e["data"] for e in events if e["event"] == "message_posted"}
            assert posted[secret]["text"] == "" and posted[secret]["deleted"] is True
            assert posted[edited]["text"] == "final"


def test_blocked_user_cannot_reach_me_and_never_learns_it(app: LiveApp) -> None:
    _, ch = rest(
        app, "POST", "/v1/channels", "alice", {"kind": "group", "members": ["mallory"], "name": "g"}
    )
    cid = ch["id"]
    assert rest(app, "PUT", "/v1/blocks/mallory", "alice")[0] == 204
    # mallory: a direct channel or an invitation is answered as for a deleted account
    status, body = rest(
        app, "POST", "/v1/channels", "mallory", {"kind": "direct", "members": ["alice"]}
    )
    assert (status, body["error"]["message"]) == (404, "no such user")
    assert ok(*rest(app, "GET", "/v1/blocks", "mallory")) == {"items": []}
    mid = ok(
        *rest(app, "POST", f"/v1/channels/{cid}/messages", "mallory", {"text": "@alice hi"}), 201
    )["message_id"]
    timeline = ok(*rest(app, "GET", f"/v1/channels/{cid}/timeline", "alice"))
    assert [(m["id"], m["collapsed"]) for m in timeline["items"][:1]] == [(mid, True)]
    assert ok(*rest(app, "GET", f"/v1/channels/{cid}", "alice"))["unread"] == 0
    assert ok(*rest(app, "GET", f"/v1/channels/{cid}/mentions", "alice"))["unread"] == 0
    # what mallory sees of the channel and of alice is what it was
    view = ok(*rest(app, "GET", f"/v1/channels/{cid}/messages/{mid}/view", "mallory"))
    assert view["collapsed"] is False


def test_deleted_account_is_refused_everywhere_and_leaves_no_text(app: LiveApp) -> None:
    _, ch = rest(
        app, "POST", "/v1/channels", "alice", {"kind": "group", "members": ["bob"], "name": "g"}
    )
    cid = ch["id"]
    base = f"/v1/channels/{cid}/messages"
    mid = ok(*rest(app, "POST", base, "alice", {"text": SECRET}), 201)["message_id"]
    archive = ok(*rest(app, "GET", "/v1/users/alice/export", "alice"))
    assert [m["text"] for m in archive["messages"]] == [SECRET]
    with ExitStack() as stack:
        alice = dial(stack, app, "alice")
        assert alice.call("subscribe", topic=TOPIC)["ok"]
        erased = ok(*rest(app, "DELETE", "/v1/users/alice", "alice"))["erased"]
        assert erased["messages"] == 1 and erased["channels"] == 1
        # her open connection sees the channel's last events up to her leaving, no more
        seen = alice.events(1, "member_removed")
        assert seen[0]["data"]["user_id"] == "alice"
        # new connections and REST calls with her token are refused
        with pytest.raises(ConnectionClosed) as exc:
            dial(stack, app, "alice")
        assert exc.value.rcvd is not None and exc.value.rcvd.code == 1008
        assert exc.value.rcvd.reason == "account deleted"
        assert rest(app, "GET", "/v1/channels", "alice")[0] == 401
        # bob: a tombstone, and nothing of the text in the replayed log
        shown = ok(*rest(app, "GET", f"{base}/{mid}", "bob"))
        assert shown["deleted"] is True and shown["text"] == ""
        events = replay(dial(stack, app, "bob"), cid)
        assert "hunter2" not in json.dumps(events)
