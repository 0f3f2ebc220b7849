"""Issue "conversation features" end to end, on SQLite and PostgreSQL: REST + two real
WebSocket clients against the whole service. Each feature's live push, its recovery after
a reconnect, and its refusals (non-member, other org, not the author)."""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import replace
from typing import Any

import pytest

from parley.settings import Settings
from tests.e2e.test_channels import Client, dial, rest
from tests.support.live import LiveApp, live_app
from tests.support.store import PgSchemas

TOPIC = "events.acme.conversations.conversation.>"


@pytest.fixture(params=["sqlite", "postgres"])
def app(request: pytest.FixtureRequest, settings: Settings) -> Iterator[LiveApp]:
    if request.param == "postgres":
        schemas: PgSchemas = request.getfixturevalue("pg_schemas")
        settings = replace(settings, database_url=schemas.new())
    with live_app(settings) as live:
        yield live


def on_topic(c: Client, prefix: str) -> dict[str, Any]:
    """The next push whose topic starts with ``prefix`` (earlier buffered pushes first)."""
    for i, p in enumerate(c.pushes):
        if str(p.get("topic", "")).startswith(prefix):
            return c.pushes.pop(i)
    while True:
        msg = c.recv()
        if str(msg.get("topic", "")).startswith(prefix):
            return msg
        c.pushes.append(msg)


def ok(status: int, body: Any, expected: int = 200) -> Any:
    assert status == expected, body
    return body


def test_conversation_features_end_to_end(app: LiveApp) -> None:
    _, ch = rest(
        app,
        "POST",
        "/v1/channels",
        "alice",
        {"kind": "group", "name": "launch", "members": ["bob", "carol"]},
    )
    cid = ch["id"]
    _, other = rest(
        app, "POST", "/v1/channels", "bob", {"kind": "group", "name": "ops", "members": ["dave"]}
    )
    oid = other["id"]
    base = f"/v1/channels/{cid}"

    with ExitStack() as stack:
        alice, bob = dial(stack, app, "alice"), dial(stack, app, "bob")
        for c in (alice, bob):
            assert c.call("subscribe", topic=TOPIC)["ok"]
        assert alice.call("subscribe", topic="events.acme.users.user.mentioned.alice")["ok"]
        assert bob.call("subscribe", topic="events.acme.users.user.mentioned.bob")["ok"]
        assert bob.call("subscribe", topic="events.acme.tasks.>")["ok"]
        # A user topic is readable only by its user.
        spy = bob.call("subscribe", topic="events.acme.users.user.mentioned.alice")
        assert spy["error"]["code"] == "forbidden"
        assert bob.call("subscribe", topic="events.acme.users.>")["error"]["code"] == "forbidden"

        # Rich text over WS; a mention of bob reaches his own topic, with priority.
        root = alice.call("post", channel=cid, text="**Plan**: ship `v2`? @bob\n```py\nx = 1\n```")
        assert root["ok"]
        rid = root["message_id"]
        for c in (alice, bob):
            assert c.events(1)[0]["data"]["id"] == rid
        mention = on_topic(bob, "events.acme.users.user.mentioned.bob")
        assert mention["data"]["priority"] is True and mention["data"]["message_id"] == rid
        status, body = rest(app, "POST", f"{base}/messages", "alice", {"text": "```\nunclosed"})
        assert (status, body["error"]["code"]) == (400, "bad_request")

        # Thread reply (also sent to the channel) with a mention of alice.
        status, reply = rest(
            app,
            "POST",
            f"{base}/threads/{rid}/replies",
            "bob",
            {"text": "agreed @alice", "also_send_to_channel": True},
        )
        ok(status, reply, 201)
        for c in (alice, bob):
            ev = c.events(1)[0]
            assert ev["data"]["thread_root"] == rid and ev["seq"] == reply["seq"]
        assert on_topic(alice, "events.acme.users.user.mentioned.alice")["data"]["via"] == "user"
        thread = ok(*rest(app, "GET", f"{base}/threads/{rid}", "alice"))
        assert [r["text"] for r in thread["replies"]] == ["agreed @alice"]
        assert thread["root"]["thread"]["reply_count"] == 1 and thread["unread"] == 1
        timeline = ok(*rest(app, "GET", f"{base}/timeline", "carol"))
        assert [m["id"] for m in timeline["items"]] == [reply["message_id"], rid]
        assert ok(*rest(app, "GET", f"{base}/mentions", "alice"))["unread"] == 1

        # Reactions.
        got = ok(*rest(app, "POST", f"{base}/messages/{rid}/reactions", "bob", {"emoji": "👍"}))
        assert got["items"] == [{"emoji": "👍", "count": 1, "me": True}]
        for c in (alice, bob):
            assert c.events(1, "reaction_added")[0]["data"]["emoji"] == "👍"
        emoji = urllib.parse.quote("👍")
        ok(*rest(app, "DELETE", f"{base}/messages/{rid}/reactions/{emoji}", "bob"))
        assert alice.events(1, "reaction_removed")[0]["data"]["count"] == 0

        # Edit: the author only; history for the author and admins.
        rpath = f"{base}/messages/{reply['message_id']}"
        edited = ok(*rest(app, "PATCH", rpath, "bob", {"text": "agreed, ~~Friday~~ Monday"}))
        assert edited["edited_at"] is not None
        for c in (alice, bob):
            assert c.events(1, "message_edited")[0]["data"]["text"] == "agreed, ~~Friday~~ Monday"
        assert rest(app, "PATCH", rpath, "carol", {"text": "x"})[0] == 403
        assert rest(app, "PATCH", rpath, "eve", {"text": "x"}, org="globex")[0] == 404
        versions = ok(*rest(app, "GET", f"{rpath}/versions", "alice"))
        assert [v["text"] for v in versions["items"]] == ["agreed @alice"]
        assert rest(app, "GET", f"{rpath}/versions", "carol")[0] == 403

        # Pins and bookmarks.
        ok(*rest(app, "PUT", f"{base}/pins/{rid}", "carol"))
        assert bob.events(1, "message_pinned")[0]["data"]["message_id"] == rid
        pins = ok(*rest(app, "GET", f"{base}/pins", "bob"))
        assert [p["message"]["id"] for p in pins["items"]] == [rid]
        ok(*rest(app, "POST", "/v1/bookmarks", "bob", {"channel": cid, "message_id": rid}), 201)
        marks = ok(*rest(app, "GET", "/v1/bookmarks", "bob"))
        assert [b["message"]["id"] for b in marks["items"]] == [rid]
        status, _ = rest(app, "POST", "/v1/bookmarks", "dave", {"channel": cid, "message_id": rid})
        assert status == 404

        # Tasks: pushed on the tasks topic and logged in the channel.
        task = ok(
            *rest(
                app,
                "POST",
                f"{base}/messages/{rid}/tasks",
                "alice",
                {"title": "Ship v2", "assignee": "bob", "due": "2026-12-01T09:00:00Z"},
            ),
            201,
        )
        pushed = on_topic(bob, f"events.acme.tasks.task.created.{task['id']}")
        assert pushed["data"]["due_at"] == "2026-12-01T09:00:00.000000Z"
        assert bob.events(1, "task_created")[0]["data"]["id"] == task["id"]
        assert rest(app, "POST", f"/v1/tasks/{task['id']}/complete", "carol")[0] == 403
        assert rest(app, "GET", f"/v1/tasks/{task['id']}", "dave")[0] == 404
        done = ok(*rest(app, "POST", f"/v1/tasks/{task['id']}/complete", "bob"))
        assert done["completed_by"] == "bob"
        assert (
            on_topic(bob, f"events.acme.tasks.task.completed.{task['id']}")["data"]["id"]
            == task["id"]
        )

        # Share into "ops": dave (not in "launch") sees the snapshot but no link.
        share = ok(
            *rest(
                app,
                "POST",
                f"{base}/messages/{rid}/share",
                "bob",
                {"channel": oid, "comment": "FYI"},
            ),
            201,
        )
        assert bob.events(1)[0]["data"]["shared"]["text"].startswith("**Plan**")
        spath = f"/v1/channels/{oid}/messages/{share['message_id']}/view"
        for_bob = ok(*rest(app, "GET", spath, "bob"))["shared"]
        assert (for_bob["channel_id"], for_bob["message_id"]) == (cid, rid)
        for_dave = ok(*rest(app, "GET", spath, "dave"))["shared"]
        assert for_dave["channel_id"] is None and for_dave["message_id"] is None
        assert for_dave["text"].startswith("**Plan**")
        status, _ = rest(app, "POST", f"{base}/messages/{rid}/share", "alice", {"channel": oid})
        assert status == 404  # alice is not in ops

        # Bob drops off; what happens meanwhile is recovered, in seq order.
        last_seen = ok(*rest(app, "GET", base, "bob"))["last_seq"]
        bob.ws.close()
        ok(*rest(app, "POST", f"{base}/messages/{rid}/reactions", "alice", {"emoji": ":tada:"}))
        ok(*rest(app, "PATCH", f"{base}/messages/{rid}", "alice", {"text": "**Plan**: ship v2"}))
        ok(*rest(app, "DELETE", f"{base}/pins/{rid}", "alice"))
        status, _ = rest(app, "DELETE", rpath, "alice")  # the owner deletes bob's reply
        assert status == 204
        status, late = rest(
            app, "POST", f"{base}/threads/{rid}/replies", "carol", {"text": "late @bob"}
        )
        ok(status, late, 201)
        ok(*rest(app, "PUT", f"{base}/pins/{late['message_id']}", "carol"))
        status, t2 = rest(app, "POST", f"{base}/messages/{rid}/tasks", "carol", {"title": "x"})
        ok(status, t2, 201)
        back = dial(stack, app, "bob")
        back.ws.send(
            json.dumps({"id": 9, "op": "subscribe", "topic": TOPIC, "since": {cid: last_seen}})
        )
        replayed: list[tuple[int, str]] = []
        while True:
            msg = back.recv()
            if msg.get("id") == 9:
                assert msg["recovery"][cid]["recovered"] is True
                break
            replayed.append((msg["seq"], msg["event"]))
        assert [e for _, e in replayed] == [
            "reaction_added",
            "message_edited",
            "message_unpinned",
            "message_deleted",
            "message_posted",
            "message_pinned",
            "task_created",
        ]
        assert [s for s, _ in replayed] == list(range(last_seen + 1, last_seen + 8))
        # The mention push is not in a log: the count tells what was missed.
        assert ok(*rest(app, "GET", f"{base}/mentions", "bob"))["items"][0]["seq"] == late["seq"]
        gone = ok(*rest(app, "GET", rpath, "carol"))
        assert gone["deleted"] is True and gone["text"] == ""

        # Other org and non-members reach none of it.
        for method, path in (
            ("GET", f"{base}/timeline"),
            ("GET", f"{base}/threads/{rid}"),
            ("GET", f"{base}/pins"),
            ("GET", f"{base}/mentions"),
            ("GET", f"{base}/messages/{rid}/view"),
            ("POST", f"{base}/messages/{rid}/reactions"),
        ):
            body = {"emoji": "👍"} if method == "POST" else None
            for user, org in (("eve", "globex"), ("dave", "acme")):
                status, err = rest(app, method, path, user, body, org=org)
                assert (status, err["error"]["code"]) == (404, "not_found"), (path, user)


def test_conversation_ops_over_websocket(app: LiveApp) -> None:
    _, ch = rest(
        app, "POST", "/v1/channels", "alice", {"kind": "group", "name": "g", "members": ["bob"]}
    )
    cid = ch["id"]
    with ExitStack() as stack:
        alice, bob = dial(stack, app, "alice"), dial(stack, app, "bob")
        eve = dial(stack, app, "eve", org="globex")
        for c in (alice, bob):
            assert c.call("subscribe", topic=TOPIC)["ok"]
        mid = alice.call("post", channel=cid, text="root")["message_id"]
        reply = bob.call("reply", channel=cid, root=mid, text="r1", also_send_to_channel=True)
        assert reply["ok"] and reply["created"] is True
        assert alice.events(2)[1]["data"]["thread_root"] == mid

        got = bob.call("react", channel=cid, message_id=mid, emoji=":+1:")
        assert got["reactions"] == [{"emoji": ":+1:", "count": 1, "me": True}]
        assert alice.events(1, "reaction_added")[0]["data"]["user_id"] == "bob"
        got = bob.call("react", channel=cid, message_id=mid, emoji=":+1:", remove=True)
        assert got["reactions"] == []
        assert alice.events(1, "reaction_removed")[0]["data"]["emoji"] == ":+1:"

        rid = reply["message_id"]
        edited = bob.call("edit", channel=cid, message_id=rid, text="r1 (edited)")
        assert edited["ok"] and edited["seq"] == reply["seq"]
        assert alice.events(1, "message_edited")[0]["data"]["text"] == "r1 (edited)"
        refused = alice.call("edit", channel=cid, message_id=rid, text="not mine")
        assert refused["error"]["code"] == "forbidden"
        assert alice.call("delete", channel=cid, message_id=rid)["deleted"] is True  # owner
        assert bob.events(1, "message_deleted")[0]["data"]["id"] == rid

        # Bad input and other orgs, as for REST.
        assert bob.call("react", channel=cid, message_id=mid, emoji=5)["error"]["code"] == (
            "bad_request"
        )
        assert bob.call("react", channel=cid, message_id=mid, emoji="nope")["error"]["code"] == (
            "bad_request"
        )
        assert bob.call("edit", message_id=mid, text="x")["error"]["code"] == "bad_request"
        for op, body in (
            ("react", {"message_id": mid, "emoji": "👍"}),
            ("edit", {"message_id": mid, "text": "x"}),
            ("delete", {"message_id": mid}),
            ("reply", {"root": mid, "text": "x"}),
        ):
            assert eve.call(op, channel=cid, **body)["error"]["code"] == "not_found", op
