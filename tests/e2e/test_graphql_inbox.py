# ruff: noqa: E501  (GraphQL documents read best on one line)
"""GraphQL over the inbox and automation on SQLite and PostgreSQL, against the whole
service on 127.0.0.1: notifications (filters, unread count, marks, preferences, the live
subscription receiving a mention), scheduled messages, reminders and the batch of service
events, with REST's refusals (another user's scheduled message or reminder: not_found)."""

from __future__ import annotations

from typing import Any

from tests.e2e.test_graphql import CREATE, POST, gql, post, refused
from tests.e2e.test_graphql_ws import app, client
from tests.support.live import LiveApp

__all__ = ["app"]  # the fixture, on both backends

INBOX = """query($unread: Boolean, $type: String, $priority: String, $c: ID, $since: DateTime, $until: DateTime, $first: Int, $after: String, $archived: NotificationArchive) {
  notifications(unread: $unread, type: $type, priority: $priority, channel: $c, from: $since, to: $until, first: $first, after: $after, archived: $archived) {
    nodes { id type priority title link actor source createdAt readAt seenAt archivedAt delivery { inApp push email } }
    pageInfo { hasNextPage endCursor }
  }
}"""
UNREAD = "{ unreadNotificationCount }"


def inbox(app: LiveApp, user: str, **variables: Any) -> list[dict[str, Any]]:
    nodes: list[dict[str, Any]] = gql(app, user, INBOX, **variables)["notifications"]["nodes"]
    return nodes


def test_notifications_queries_marks_and_preferences(app: LiveApp) -> None:
    cid = gql(app, "alice", CREATE, members=["bob"])["createChannel"]["id"]
    other = gql(app, "alice", CREATE, members=["bob"])["createChannel"]["id"]
    for i in range(3):
        gql(app, "alice", POST, c=cid, t=f"ping {i} @bob")
    gql(app, "alice", POST, c=other, t="elsewhere @bob")
    got = inbox(app, "bob")
    assert [n["type"] for n in got] == ["mention"] * 4
    assert got[0]["actor"] == "alice" and got[0]["link"]["channel"] == other
    assert got[0]["delivery"]["inApp"] == "delivered"
    assert gql(app, "bob", UNREAD)["unreadNotificationCount"] == 4
    assert inbox(app, "alice") == []  # my own inbox only
    # REST's filters: channel, type, priority, date range, paging
    assert len(inbox(app, "bob", c=cid)) == 3
    assert inbox(app, "bob", type="task_due") == []
    assert {n["priority"] for n in got} == {"high"}
    assert len(inbox(app, "bob", priority="high")) == 4
    assert inbox(app, "bob", priority="low") == []
    assert inbox(app, "bob", until="2000-01-01T00:00:00Z") == []
    assert len(inbox(app, "bob", since="2000-01-01T00:00:00Z")) == 4
    page = gql(app, "bob", INBOX, first=3)["notifications"]
    assert page["pageInfo"]["hasNextPage"] is True
    rest = gql(app, "bob", INBOX, first=3, after=page["pageInfo"]["endCursor"])["notifications"]
    assert [n["id"] for n in page["nodes"] + rest["nodes"]] == [n["id"] for n in got]
    assert rest["pageInfo"] == {"hasNextPage": False, "endCursor": None}
    assert refused(app, "bob", INBOX, priority="loud") == "bad_request"
    # mark one read, then all seen up to the newest, archive one
    one = "mutation($id: ID!, $s: NotificationState!) { markNotification(id: $id, state: $s) { id readAt seenAt archivedAt } }"
    marked = gql(app, "bob", one, id=got[3]["id"], s="READ")["markNotification"]
    assert marked["readAt"] is not None and marked["seenAt"] is not None
    assert gql(app, "bob", UNREAD)["unreadNotificationCount"] == 3
    assert [n["id"] for n in inbox(app, "bob", unread=True)] == [n["id"] for n in got[:3]]
    assert refused(app, "alice", one, id=got[0]["id"], s="READ") == "not_found"  # not hers
    many = "mutation($s: NotificationState!, $ids: [ID!], $up: ID, $on: Boolean) { markNotifications(state: $s, ids: $ids, upTo: $up, on: $on) { changed unread } }"
    res = gql(app, "bob", many, s="READ", up=got[1]["id"])["markNotifications"]
    assert sorted(res["changed"]) == sorted(n["id"] for n in got[1:3]) and res["unread"] == 1
    res = gql(app, "bob", many, s="READ", ids=[got[2]["id"]], on=False)["markNotifications"]
    assert res == {"changed": [got[2]["id"]], "unread": 2}
    assert refused(app, "bob", many, s="READ") == "bad_request"  # neither ids nor upTo
    assert refused(app, "alice", many, s="SEEN", up=got[0]["id"]) == "not_found"
    gql(app, "bob", one, id=got[0]["id"], s="ARCHIVED")
    assert [n["id"] for n in inbox(app, "bob", archived="ARCHIVED")] == [got[0]["id"]]
    assert len(inbox(app, "bob", archived="ALL")) == 4
    assert gql(app, "bob", UNREAD)["unreadNotificationCount"] == 1
    q_one = "query($id: ID!) { notification(id: $id) { id archivedAt } }"
    assert gql(app, "bob", q_one, id=got[0]["id"])["notification"]["archivedAt"] is not None
    assert refused(app, "alice", q_one, id=got[0]["id"]) == "not_found"
    # preferences: read, change some, refused values as REST
    prefs_q = "{ notificationPreferences { level channels delivery dnd keywords email emailUnsubscribed } }"
    assert gql(app, "bob", prefs_q)["notificationPreferences"] == {
        "level": "mentions_and_dms",
        "channels": {},
        "delivery": {},
        "dnd": None,
        "keywords": [],
        "email": None,
        "emailUnsubscribed": False,
    }
    update = 'mutation($ch: JSON, $dnd: DndInput) { updateNotificationPreferences(level: "all", channels: $ch, keywords: ["deploy"], dnd: $dnd) { level channels keywords dnd } }'
    dnd = {"start": "22:00", "end": "07:00", "days": [1, 2], "timeZone": "Europe/Paris"}
    new = gql(app, "bob", update, ch={other: "mute"}, dnd=dnd)["updateNotificationPreferences"]
    assert (new["level"], new["channels"], new["keywords"]) == ("all", {other: "mute"}, ["deploy"])
    assert new["dnd"]["time_zone"] == "Europe/Paris" and new["dnd"]["start"] == "22:00"
    assert gql(app, "bob", prefs_q)["notificationPreferences"]["level"] == "all"
    bad = 'mutation { updateNotificationPreferences(level: "loud") { level } }'
    assert refused(app, "bob", bad) == "bad_request"
    clear = "mutation { updateNotificationPreferences(dnd: null) { dnd level } }"
    assert gql(app, "bob", clear)["updateNotificationPreferences"] == {"dnd": None, "level": "all"}
    unsub = "mutation { setEmailSubscription(subscribed: false) { emailUnsubscribed } }"
    assert gql(app, "bob", unsub)["setEmailSubscription"] == {"emailUnsubscribed": True}
    # thread follows
    root = gql(app, "alice", POST, c=cid, t="root")["postMessage"]["id"]
    follow = (
        "mutation($c: ID!, $r: ID!, $on: Boolean) { followThread(channel: $c, root: $r, on: $on) }"
    )
    assert gql(app, "bob", follow, c=cid, r=root)["followThread"] is True
    assert gql(app, "bob", follow, c=cid, r=root, on=False)["followThread"] is False
    assert refused(app, "eve", follow, c=cid, r=root) == "not_found"


def test_notification_subscription_receives_a_mention(app: LiveApp) -> None:
    cid = gql(app, "alice", CREATE, members=["bob"])["createChannel"]["id"]
    sub = "subscription { notifications { event alert notification { id type actor link } state on ids unread preferences { level } } }"
    with client(app, "bob") as bob, client(app, "eve") as eve:
        bob.subscribe("n", sub)
        eve.subscribe("n", sub)
        bob.sync()
        eve.sync()
        gql(app, "alice", POST, c=cid, t="look @bob")
        ev = bob.next("n")["data"]["notifications"]
        assert ev["event"] == "created" and ev["alert"] is True
        n = ev["notification"]
        assert (n["type"], n["actor"], n["link"]["channel"]) == ("mention", "alice", cid)
        # a mark on another device, then changed preferences, arrive too
        mark = "mutation($id: ID!) { markNotification(id: $id, state: READ) { id } }"
        gql(app, "bob", mark, id=n["id"])
        ev = bob.next("n")["data"]["notifications"]
        assert ev | {"notification": None} == {
            "event": "updated",
            "alert": None,
            "notification": None,
            "state": "read",
            "on": True,
            "ids": [n["id"]],
            "unread": 0,
            "preferences": None,
        }
        gql(app, "bob", 'mutation { updateNotificationPreferences(level: "nothing") { level } }')
        ev = bob.next("n")["data"]["notifications"]
        assert (ev["event"], ev["preferences"]) == ("preferences", {"level": "nothing"})
        # eve (no notification of her own) got nothing
        eve.sync()


SCHEDULE = 'mutation($c: ID!, $secs: Float, $at: DateTime) { scheduleMessage(channel: $c, text: "later", inSeconds: $secs, sendAt: $at) { id channel author text sendAt state messageId createdAt } }'
SCHEDULED = "query($c: ID) { scheduledMessages(channel: $c) { id text state } }"


def test_scheduled_messages(app: LiveApp) -> None:
    cid = gql(app, "alice", CREATE, members=["bob"])["createChannel"]["id"]
    s = gql(app, "alice", SCHEDULE, c=cid, secs=3600)["scheduleMessage"]
    assert (s["channel"], s["author"], s["text"], s["state"]) == (
        cid,
        "alice",
        "later",
        "scheduled",
    )
    assert s["messageId"] is None and s["sendAt"] > s["createdAt"]
    assert gql(app, "alice", SCHEDULED)["scheduledMessages"] == [
        {"id": s["id"], "text": "later", "state": "scheduled"}
    ]
    assert len(gql(app, "alice", SCHEDULED, c=cid)["scheduledMessages"]) == 1
    assert gql(app, "bob", SCHEDULED)["scheduledMessages"] == []
    # refusals: no time, a past time, a non-member's channel, another user's message
    assert refused(app, "alice", SCHEDULE, c=cid) == "bad_request"
    assert refused(app, "alice", SCHEDULE, c=cid, at="2000-01-01T00:00:00Z") == "bad_request"
    assert refused(app, "eve", SCHEDULE, c=cid, secs=60) == "not_found"
    assert refused(app, "eve", SCHEDULED, c=cid) == "not_found"
    one = "query($id: ID!) { scheduledMessage(id: $id) { id text } }"
    assert gql(app, "alice", one, id=s["id"])["scheduledMessage"]["text"] == "later"
    assert refused(app, "bob", one, id=s["id"]) == "not_found"
    edit = "mutation($id: ID!, $t: String, $tm: String, $tz: String) { editScheduledMessage(id: $id, text: $t, tomorrowAt: $tm, tz: $tz) { id text sendAt state } }"
    assert refused(app, "bob", edit, id=s["id"], t="mine now") == "not_found"
    edited = gql(app, "alice", edit, id=s["id"], t="sooner")["editScheduledMessage"]
    assert (edited["text"], edited["sendAt"]) == ("sooner", s["sendAt"])
    moved = gql(app, "alice", edit, id=s["id"], tm="09:00", tz="Europe/Paris")
    assert moved["editScheduledMessage"]["sendAt"] != s["sendAt"]
    cancel = "mutation($id: ID!) { cancelScheduledMessage(id: $id) { id state } }"
    assert refused(app, "bob", cancel, id=s["id"]) == "not_found"
    assert gql(app, "alice", cancel, id=s["id"])["cancelScheduledMessage"]["state"] == "cancelled"
    assert refused(app, "alice", cancel, id=s["id"]) == "conflict"
    assert refused(app, "alice", cancel, id="nope") == "not_found"


def test_reminders(app: LiveApp) -> None:
    cid = gql(app, "alice", CREATE, members=["bob"])["createChannel"]["id"]
    mid = gql(app, "alice", POST, c=cid, t="remember me")["postMessage"]["id"]
    remind = "mutation($c: ID!, $m: ID!, $secs: Float, $note: String) { remindMe(channel: $c, message: $m, inSeconds: $secs, note: $note) { id kind channel messageId taskId note remindAt state createdAt } }"
    r = gql(app, "bob", remind, c=cid, m=mid, note="reply", secs=600)["remindMe"]
    assert (r["kind"], r["channel"], r["messageId"], r["taskId"]) == ("message", cid, mid, None)
    assert (r["note"], r["state"]) == ("reply", "pending") and r["remindAt"] > r["createdAt"]
    mine = "query($p: Boolean) { reminders(pending: $p) { id state } }"
    assert gql(app, "bob", mine)["reminders"] == [{"id": r["id"], "state": "pending"}]
    assert gql(app, "alice", mine)["reminders"] == []
    assert refused(app, "eve", remind, c=cid, m=mid, secs=600) == "not_found"
    assert refused(app, "bob", remind, c=cid, m="msg_nope", secs=600) == "not_found"
    assert refused(app, "bob", remind, c=cid, m=mid) == "bad_request"  # no time
    cancel = "mutation($id: ID!) { cancelReminder(id: $id) { id state } }"
    assert refused(app, "alice", cancel, id=r["id"]) == "not_found"
    assert gql(app, "bob", cancel, id=r["id"])["cancelReminder"]["state"] == "cancelled"
    assert refused(app, "bob", cancel, id=r["id"]) == "conflict"
    assert gql(app, "bob", mine, p=True)["reminders"] == []


def test_publish_events_batch(app: LiveApp) -> None:
    batch = "mutation($e: [EventInput!]!) { publishEvents(events: $e) }"
    events = [
        {"topic": "events.acme.billing.invoice.paid.i1", "data": {"n": 1}},
        {"topic": "events.acme.billing.invoice.paid.i2"},
    ]
    assert refused(app, "bob", batch, e=events) == "forbidden"
    status, body = post(app, "billing", batch, {"e": events}, roles=("service",))
    assert status == 200 and body["data"]["publishEvents"] == [0, 0], body
    # all validated before any is published: one foreign topic refuses the batch
    foreign = [*events, {"topic": "events.other.billing.invoice.paid.i3"}]
    status, body = post(app, "billing", batch, {"e": foreign}, roles=("service",))
    assert body["data"]["publishEvents"] is None
    assert body["errors"][0]["extensions"]["code"] == "forbidden"
    status, body = post(app, "billing", batch, {"e": []}, roles=("service",))
    assert body["errors"][0]["extensions"]["code"] == "bad_request"
