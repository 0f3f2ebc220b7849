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
from websockets.sync.client import connect

from parley.settings import Settings
from tests.conftest import make_token
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
        # her open connection is closed at once (its token is valid for an hour yet), as
        # a new one is refused, before anything is erased: no event of the erasure
        seen: list[dict[str, Any]] = []
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                seen.append(alice.recv())
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
        assert closed.value.rcvd.reason == "account deleted"
        assert [p.get("event") for p in seen if p.get("channel") == cid] == []
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


def until_topic(c: Client, topic: str) -> list[dict[str, Any]]:
    """The pushes before (and including) the first event on ``topic``."""
    seen: list[dict[str, Any]] = []
    while True:
        msg = c.pushes.pop(0) if c.pushes else c.recv()  # pushes that came before a reply
        seen.append(msg)
        if msg.get("topic") == topic:
            return seen


def test_task_pushes_follow_the_channel_membership(app: LiveApp) -> None:
    """A same-org outsider subscribed to everything gets no task event of a channel he is
    not in (REST answers him 404); a member removed while connected gets none after his
    member_removed."""
    _, ch = rest(
        app,
        "POST",
        "/v1/channels",
        "alice",
        {"kind": "group", "name": "t", "members": ["bob", "carol"]},
    )
    cid = ch["id"]
    msg = ok(*rest(app, "POST", f"/v1/channels/{cid}/messages", "alice", {"text": "doc"}), 201)
    sentinel = "events.acme.client.sentinel.s"
    with ExitStack() as stack:
        alice = dial(stack, app, "alice")
        bob, carol, dave = (dial(stack, app, u) for u in ("bob", "carol", "dave"))
        for c in (bob, carol, dave):
            assert c.call("subscribe", topic="events.acme.>")["ok"]

        def mark() -> None:
            assert alice.call("publish", topic=sentinel, data=1)["ok"]

        path = f"/v1/channels/{cid}/messages/{msg['message_id']}/tasks"
        task = ok(*rest(app, "POST", path, "alice", {"title": "write it"}), 201)
        mark()
        created = f"events.acme.tasks.task.created.{task['id']}"
        for member in (bob, carol):
            assert created in [p.get("topic") for p in until_topic(member, sentinel)]
        assert created not in [p.get("topic") for p in until_topic(dave, sentinel)]
        assert rest(app, "GET", f"/v1/tasks/{task['id']}", "dave")[0] == 404

        status, _ = rest(app, "DELETE", f"/v1/channels/{cid}/members/carol", "alice")
        assert status in (200, 204)
        ok(*rest(app, "POST", f"/v1/tasks/{task['id']}/complete", "alice"))
        mark()
        completed = f"events.acme.tasks.task.completed.{task['id']}"
        assert completed in [p.get("topic") for p in until_topic(bob, sentinel)]
        seen = until_topic(carol, sentinel)
        assert [p.get("event") for p in seen if p.get("channel") == cid][-1:] == ["member_removed"]
        assert completed not in [p.get("topic") for p in seen]
        assert completed not in [p.get("topic") for p in until_topic(dave, sentinel)]


def test_a_plain_user_gets_no_service_events_outside_his_namespaces(app: LiveApp) -> None:
    """The billing service's events (POST /v1/events) reach a service subscriber, not a
    plain user of the same org subscribed to everything."""
    topic = "events.acme.billing.invoice.paid.inv_1"
    with ExitStack() as stack:
        pat = dial(stack, app, "pat")
        audit = Client(
            stack.enter_context(
                connect(
                    app.ws_url,
                    additional_headers={
                        "Authorization": f"Bearer {make_token('audit', roles=('service',))}"
                    },
                )
            )
        )
        for c in (pat, audit):
            assert c.call("subscribe", topic="events.acme.>")["ok"]
        assert pat.call("subscribe", topic="events.acme.billing.>")["error"]["code"] == "forbidden"
        status, body = rest(
            app, "POST", "/v1/events", "billing", {"topic": topic, "data": 1}, roles=("service",)
        )
        assert (status, body["deliveries"]) == (200, 1)
        assert pat.call("publish", topic="events.acme.client.sentinel.s", data=1)["ok"]
        assert topic not in [
            p.get("topic") for p in until_topic(pat, "events.acme.client.sentinel.s")
        ]
        assert topic in [p.get("topic") for p in until_topic(audit, topic)]


@pytest.fixture
def small_outbox(settings: Settings) -> Iterator[LiveApp]:
    limits = replace(settings.limits, outbox_max_frames=64)
    # the test posts a few hundred messages over REST in a burst
    rest_limits = replace(settings.rate_limits, write_burst=10_000, read_burst=10_000)
    with live_app(replace(settings, limits=limits, rate_limits=rest_limits)) as live:
        yield live


def test_recovery_beyond_the_outbox_replays_what_fits_then_rest_pages_the_rest(
    small_outbox: LiveApp,
) -> None:
    """More missed than the outbox takes: no slow-consumer close with nothing replayed,
    but a replay that fits, ``recovered: false`` and REST from ``replayed_to``."""
    app = small_outbox
    _, ch = rest(app, "POST", "/v1/channels", "alice", {"kind": "group", "name": "r"})
    cid = ch["id"]
    posted = [
        ok(*rest(app, "POST", f"/v1/channels/{cid}/messages", "alice", {"text": f"m{i}"}), 201)
        for i in range(150)
    ]
    with ExitStack() as stack:
        alice = dial(stack, app, "alice")
        alice.ws.send(json.dumps({"id": 9, "op": "subscribe", "topic": TOPIC, "since": {cid: 0}}))
        replayed: list[dict[str, Any]] = []
        while (msg := alice.recv()).get("id") != 9:
            replayed.append(msg)
        report = msg["recovery"][cid]
        assert msg["ok"] and report["recovered"] is False
        to = report["replayed_to"]
        assert [e["seq"] for e in replayed] == list(range(1, to + 1))
        page = ok(*rest(app, "GET", f"/v1/channels/{cid}/messages?after={to}&limit=200", "alice"))
        got = [e["data"]["id"] for e in replayed if e["event"] == "message_posted"]
        got += [m["id"] for m in page["items"]]
        assert got == [p["message_id"] for p in posted]  # each once, in order
        assert alice.call("ping")["ok"]  # still connected
