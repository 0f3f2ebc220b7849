from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from parley.broker.client import UserState
from parley.broker.hub import Hub
from parley.broker.protocol import channel_event_frame
from parley.broker.session import check_user_pattern
from parley.core.codes import CloseCode, ErrorCode
from parley.core.errors import ClientError
from parley.core.events import EventName
from parley.core.topics import channel_topic, parse_pattern
from tests.support.broker import ORG, Conn, decode_frames, drain, event, make_conn, post_topic

TS = datetime(2026, 11, 22, 6, 30, 0, 123456, tzinfo=UTC)
ALL_CONV = f"events.{ORG}.conversations.>"


def sub(hub: Hub, conn: Conn, pattern: str) -> None:
    assert hub.subscribe(conn.client, pattern, parse_pattern(pattern)) is True


def member(hub: Hub, conn: Conn, *channels: str) -> UserState:
    user = hub.attach(conn.client, loading=False)
    user.channels = set(channels)
    return user


def seqs(frames: list[dict[str, object]]) -> list[object]:
    return [f["seq"] for f in frames]


async def test_publish_builds_one_frame_shared_by_all() -> None:
    hub = Hub()
    conns = [make_conn(u) for u in ("a", "b", "c")]
    sub(hub, conns[0], "events.acme.client.>")
    sub(hub, conns[1], "events.acme.client.chat.*")
    sub(hub, conns[2], "events.acme.*.chat.typing")
    assert hub.publish("events.acme.client.chat.typing", {"x": 1}, ts=TS) == 3
    got = [await c.outbox.get() for c in conns]
    assert got[0] is got[1]
    assert got[1] is got[2]
    assert got[0] is not None
    assert decode_frames(got[0]) == [
        {
            "type": "event",
            "topic": "events.acme.client.chat.typing",
            "data": {"x": 1},
            "ts": "2026-11-22T06:30:00.123456Z",
        }
    ]
    assert (hub.published, hub.delivered) == (1, 3)


async def test_no_subscriber_no_delivery() -> None:
    hub = Hub()
    a = make_conn("a")
    sub(hub, a, "events.acme.client.x")
    assert hub.publish("events.acme.client.y", 1) == 0
    assert len(a.outbox) == 0
    assert (hub.published, hub.delivered) == (1, 0)


async def test_overlapping_patterns_deliver_one_copy() -> None:
    hub = Hub()
    a = make_conn("a")
    sub(hub, a, "events.acme.client.>")
    sub(hub, a, "events.acme.*.x")
    sub(hub, a, "events.acme.client.x")
    assert hub.subscription_count == 3
    assert hub.publish("events.acme.client.x", "hi", ts=TS) == 1
    assert [f["data"] for f in await drain(a.outbox)] == ["hi"]


async def test_duplicate_subscribe_refused() -> None:
    hub = Hub()
    a = make_conn("a")
    sub(hub, a, "events.acme.client.>")
    assert (
        hub.subscribe(a.client, "events.acme.client.>", parse_pattern("events.acme.client.>"))
        is False
    )
    assert hub.subscription_count == 1


async def test_unsubscribe_and_detach_stop_delivery_and_empty_the_trie() -> None:
    hub = Hub()
    a, b = make_conn("a"), make_conn("b")
    hub.attach(a.client, loading=False)
    hub.attach(b.client, loading=False)
    sub(hub, a, "events.acme.client.>")
    sub(hub, a, "events.acme.client.x")
    sub(hub, b, "events.acme.*.x")
    assert hub.subscription_count == 3

    assert hub.unsubscribe(a.client, "events.acme.client.x") is True
    assert hub.unsubscribe(a.client, "events.acme.client.x") is False
    assert hub.unsubscribe(a.client, "events.acme.never") is False
    assert hub.publish("events.acme.client.x", 1) == 2
    assert [f["data"] for f in await drain(a.outbox)] == [1]

    assert hub.unsubscribe(a.client, "events.acme.client.>") is True
    assert hub.publish("events.acme.client.x", 2) == 1
    assert await drain(a.outbox) == []
    assert [f["data"] for f in await drain(b.outbox)] == [1, 2]

    hub.detach(b.client)
    assert b.client.patterns == {}
    assert b.client.user is None
    assert hub.publish("events.acme.client.x", 3) == 0
    assert await drain(b.outbox) == []
    hub.detach(a.client)
    assert hub.subscription_count == 0
    assert hub.connections_of(ORG, "a") == 0
    assert hub.connections_of(ORG, "b") == 0


async def test_detach_with_many_patterns_empties_trie() -> None:
    hub = Hub()
    conns = [make_conn(u) for u in ("a", "b")]
    for c in conns:
        hub.attach(c.client, loading=False)
        for p in ("events.acme.>", "events.acme.*.x", "events.acme.client.x", ALL_CONV):
            sub(hub, c, p)
    assert hub.subscription_count == 8
    for c in conns:
        hub.detach(c.client)
    assert hub.subscription_count == 0
    assert hub._trie.is_empty() is True


async def test_connections_of_counts_per_user() -> None:
    hub = Hub()
    a1, a2 = make_conn("a"), make_conn("a")
    u1 = hub.attach(a1.client, loading=False)
    u2 = hub.attach(a2.client, loading=False)
    assert u1 is u2
    assert hub.connections_of(ORG, "a") == 2
    hub.detach(a1.client)
    assert hub.connections_of(ORG, "a") == 1
    hub.detach(a2.client)
    assert hub.connections_of(ORG, "a") == 0


async def test_overflowing_client_reported_others_still_receive() -> None:
    hub = Hub()
    slow = make_conn("slow", max_frames=1)
    fast = make_conn("fast")
    sub(hub, slow, "events.acme.client.>")
    sub(hub, fast, "events.acme.client.>")
    assert hub.publish("events.acme.client.x", 1) == 2
    assert slow.overflows == []
    # Deliveries count only frames actually queued.
    assert hub.publish("events.acme.client.x", 2) == 1
    assert slow.overflows == [None]
    assert hub.publish("events.acme.client.x", 3) == 1
    assert slow.overflows == [None, None]
    assert (hub.published, hub.delivered) == (3, 4)
    assert [f["data"] for f in await drain(slow.outbox)] == [1]
    assert [f["data"] for f in await drain(fast.outbox)] == [1, 2, 3]
    assert fast.overflows == []


async def test_closed_outbox_is_not_an_overflow() -> None:
    hub = Hub()
    a = make_conn("a")
    sub(hub, a, "events.acme.client.>")
    a.outbox.close()
    assert hub.publish("events.acme.client.x", 1) == 0
    assert a.overflows == []
    assert (hub.published, hub.delivered) == (1, 0)


# -- channel events -------------------------------------------------------------


async def test_channel_events_reach_only_members() -> None:
    hub = Hub()
    alice, bob, eve = make_conn("alice"), make_conn("bob"), make_conn("eve")
    member(hub, alice, "c1")
    member(hub, bob, "c1", "c2")
    member(hub, eve, "c2")
    for c in (alice, bob, eve):
        sub(hub, c, ALL_CONV)
    ev = event("c1", 1)
    hub.publish_channel_events([ev, event("c2", 1)])
    expected = decode_frames(channel_event_frame(ev))
    assert expected == [
        {
            "type": "event",
            "topic": post_topic("c1"),
            "channel": "c1",
            "seq": 1,
            "event": "message_posted",
            "data": {"n": 1},
            "ts": "2026-11-22T06:00:00.000000Z",
        }
    ]
    assert await drain(alice.outbox) == expected
    assert [(f["channel"], f["seq"]) for f in await drain(bob.outbox)] == [("c1", 1), ("c2", 1)]
    assert [(f["channel"], f["seq"]) for f in await drain(eve.outbox)] == [("c2", 1)]
    assert (hub.published, hub.delivered) == (2, 4)


async def test_channel_event_frame_shared_by_members() -> None:
    hub = Hub()
    a, b = make_conn("a"), make_conn("b")
    for c in (a, b):
        member(hub, c, "c1")
        sub(hub, c, ALL_CONV)
    hub.publish_channel_events([event("c1", 1)])
    fa, fb = await a.outbox.get(), await b.outbox.get()
    assert fa is fb


async def test_channel_events_need_a_matching_subscription() -> None:
    hub = Hub()
    a = make_conn("a")
    member(hub, a, "c1")
    sub(hub, a, f"events.{ORG}.conversations.conversation.message_edited.*")
    hub.publish_channel_events([event("c1", 1), event("c1", 2, EventName.MESSAGE_EDITED)])
    assert [(f["seq"], f["event"]) for f in await drain(a.outbox)] == [(2, "message_edited")]


async def test_member_added_starts_delivery_including_itself() -> None:
    hub = Hub()
    alice, bob = make_conn("alice"), make_conn("bob")
    member(hub, alice, "c1")
    bob_user = member(hub, bob)
    for c in (alice, bob):
        sub(hub, c, ALL_CONV)
    hub.publish_channel_events(
        [
            event("c1", 1),
            event("c1", 2, EventName.MEMBER_ADDED, {"user_id": "bob"}),
            event("c1", 3),
        ]
    )
    assert bob_user.channels == {"c1"}
    assert [(f["seq"], f["event"]) for f in await drain(bob.outbox)] == [
        (2, "member_added"),
        (3, "message_posted"),
    ]
    assert seqs(await drain(alice.outbox)) == [1, 2, 3]


async def test_member_added_for_unconnected_user_is_harmless() -> None:
    hub = Hub()
    alice = make_conn("alice")
    member(hub, alice, "c1")
    sub(hub, alice, ALL_CONV)
    hub.publish_channel_events([event("c1", 1, EventName.MEMBER_ADDED, {"user_id": "zed"})])
    assert seqs(await drain(alice.outbox)) == [1]
    assert hub.connections_of(ORG, "zed") == 0


async def test_member_added_in_other_org_does_not_apply() -> None:
    hub = Hub()
    bob = make_conn("bob")
    bob_user = member(hub, bob)
    sub(hub, bob, ALL_CONV)
    hub.publish_channel_events(
        [event("c1", 1, EventName.MEMBER_ADDED, {"user_id": "bob"}, org="other")]
    )
    assert bob_user.channels == set()
    assert await drain(bob.outbox) == []


async def test_member_removed_delivered_to_removed_then_stops() -> None:
    hub = Hub()
    alice, bob = make_conn("alice"), make_conn("bob")
    member(hub, alice, "c1")
    bob_user = member(hub, bob, "c1")
    for c in (alice, bob):
        sub(hub, c, ALL_CONV)
    hub.publish_channel_events(
        [
            event("c1", 1),
            event("c1", 2, EventName.MEMBER_REMOVED, {"user_id": "bob"}),
            event("c1", 3),
        ]
    )
    assert bob_user.channels == set()
    assert [(f["seq"], f["event"]) for f in await drain(bob.outbox)] == [
        (1, "message_posted"),
        (2, "member_removed"),
    ]
    assert seqs(await drain(alice.outbox)) == [1, 2, 3]


async def test_membership_applies_to_every_connection_of_the_user() -> None:
    hub = Hub()
    b1, b2 = make_conn("bob"), make_conn("bob")
    member(hub, b1)
    hub.attach(b2.client, loading=False)
    sub(hub, b1, ALL_CONV)
    sub(hub, b2, ALL_CONV)
    hub.publish_channel_events([event("c9", 1, EventName.MEMBER_ADDED, {"user_id": "bob"})])
    assert seqs(await drain(b1.outbox)) == [1]
    assert seqs(await drain(b2.outbox)) == [1]


async def test_loaded_replays_membership_changes_made_while_loading() -> None:
    hub = Hub()
    bob = make_conn("bob")
    user = hub.attach(bob.client, loading=True)
    assert user.pending == []
    sub(hub, bob, ALL_CONV)
    hub.publish_channel_events(
        [
            event("new", 1, EventName.MEMBER_ADDED, {"user_id": "bob"}),
            event("gone", 7, EventName.MEMBER_REMOVED, {"user_id": "bob"}),
        ]
    )
    assert user.pending == [("new", True), ("gone", False)]
    # The snapshot was read before those changes committed.
    user.loaded({"gone", "kept"})
    assert user.pending is None
    assert user.channels == {"new", "kept"}
    hub.publish_channel_events([event("new", 2), event("gone", 8), event("kept", 3)])
    assert [(f["channel"], f["seq"]) for f in await drain(bob.outbox)] == [
        ("new", 1),
        ("new", 2),
        ("kept", 3),
    ]


async def test_second_connection_while_loading_shares_pending() -> None:
    hub = Hub()
    b1, b2 = make_conn("bob"), make_conn("bob")
    user = hub.attach(b1.client, loading=True)
    assert hub.attach(b2.client, loading=True) is user
    hub.publish_channel_events([event("x", 1, EventName.MEMBER_ADDED, {"user_id": "bob"})])
    user.loaded(set())
    assert user.channels == {"x"}


async def test_hold_back_buffers_recovering_channel_only() -> None:
    hub = Hub()
    a = make_conn("a")
    member(hub, a, "c1", "c2")
    sub(hub, a, ALL_CONV)
    a.client.recovering = {"c1": []}
    hub.publish_channel_events([event("c1", 5), event("c2", 1), event("c1", 6)])
    assert seqs(await drain(a.outbox)) == [1]
    held = a.client.recovering["c1"]
    assert [s for s, _ in held] == [5, 6]
    assert held[0][1] == channel_event_frame(event("c1", 5))


async def test_hold_back_overflow_reports_and_drops() -> None:
    hub = Hub()
    a = make_conn("a", max_frames=2)
    member(hub, a, "c1")
    sub(hub, a, ALL_CONV)
    a.client.recovering = {"c1": []}
    hub.publish_channel_events([event("c1", 1), event("c1", 2), event("c1", 3)])
    assert [s for s, _ in a.client.recovering["c1"]] == [1, 2]
    assert a.overflows == [None]
    assert len(a.outbox) == 0


async def test_hold_back_does_not_bypass_membership() -> None:
    hub = Hub()
    a = make_conn("a")
    member(hub, a)
    sub(hub, a, ALL_CONV)
    a.client.recovering = {"c1": []}
    hub.publish_channel_events([event("c1", 1)])
    assert a.client.recovering == {"c1": []}


async def test_ephemeral_only_to_members() -> None:
    hub = Hub()
    alice, eve = make_conn("alice"), make_conn("eve")
    member(hub, alice, "c1")
    member(hub, eve, "c2")
    for c in (alice, eve):
        sub(hub, c, ALL_CONV)
    assert hub.publish_channel_ephemeral(ORG, "c1", "message_stream", {"chunk": "he"}) == 1
    frames = await drain(alice.outbox)
    assert len(frames) == 1
    f = frames[0]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", f.pop("ts")) is not None
    assert f == {
        "type": "event",
        "topic": channel_topic(ORG, "message_stream", "c1"),
        "channel": "c1",
        "event": "message_stream",
        "data": {"chunk": "he"},
    }
    assert await drain(eve.outbox) == []
    assert hub.publish_channel_ephemeral(ORG, "c3", "message_stream", {}) == 0


async def test_second_loader_does_not_clobber_live_membership_changes() -> None:
    hub = Hub()
    b1, b2 = make_conn("bob"), make_conn("bob")
    user = hub.attach(b1.client, loading=True)
    hub.attach(b2.client, loading=True)
    assert user.pending == []  # so connection.py has both connections load a snapshot
    user.loaded(set())  # b1's snapshot arrives
    # Committed after b2 read its snapshot, before b2's load returns:
    hub.publish_channel_events([event("c1", 1, EventName.MEMBER_ADDED, {"user_id": "bob"})])
    user.loaded(set())  # b2's (now stale) snapshot
    assert user.channels == {"c1"}


async def test_channel_deliveries_count_queued_and_held_frames_only() -> None:
    hub = Hub()
    ok, closed, held = make_conn("a"), make_conn("b"), make_conn("c")
    for c in (ok, closed, held):
        member(hub, c, "c1")
        sub(hub, c, ALL_CONV)
    closed.outbox.close()
    held.client.recovering = {"c1": []}
    hub.publish_channel_events([event("c1", 1)])
    assert (hub.published, hub.delivered) == (1, 2)
    assert hub.publish_channel_ephemeral(ORG, "c1", "typing", {}) == 2
    assert closed.overflows == []


async def test_user_topics_reach_only_their_user() -> None:
    hub = Hub()
    alice, bob = make_conn("alice"), make_conn("bob")
    for conn in (alice, bob):
        hub.subscribe(conn.client, "events.acme.>", parse_pattern("events.acme.>"))
    assert hub.publish("events.acme.users.user.mentioned.alice", {"x": 1}) == 1
    assert len(alice.outbox) == 1 and len(bob.outbox) == 0
    assert hub.publish("events.acme.client.chat.x", {"x": 1}) == 2  # other topics unchanged
    check_user_pattern(parse_pattern("events.acme.users.user.mentioned.bob"), "bob")
    check_user_pattern(parse_pattern("events.acme.users.*.*.bob"), "bob")
    for pattern in (
        "events.acme.users.user.mentioned.alice",
        "events.acme.users.user.mentioned.*",
        "events.acme.users.>",
        "events.acme.users.user.mentioned.bob.x",
    ):
        with pytest.raises(ClientError) as exc:
            check_user_pattern(parse_pattern(pattern), "bob")
        assert exc.value.code is ErrorCode.FORBIDDEN


async def test_publish_members_of_reaches_members_only_and_follows_removal() -> None:
    hub = Hub()
    member, outsider = make_conn("bob"), make_conn("dave")
    for conn in (member, outsider):
        hub.attach(conn.client, loading=False)
        hub.subscribe(conn.client, "events.acme.>", parse_pattern("events.acme.>"))
    assert member.client.user is not None
    member.client.user.channels.add("c1")
    topic = "events.acme.tasks.task.created.t1"
    assert hub.publish(topic, {"n": 1}, members_of="c1") == 1
    assert len(member.outbox) == 1 and len(outsider.outbox) == 0
    hub.publish_channel_events([event("c1", 1, EventName.MEMBER_REMOVED, {"user_id": "bob"})])
    assert len(member.outbox) == 2  # his own removal
    assert hub.publish(topic, {"n": 2}, members_of="c1") == 0
    # Without members_of (a service's own event on a channel source): services only.
    assert hub.publish(topic, {"n": 3}) == 0


async def test_disconnect_user_closes_every_connection_of_that_user_only() -> None:
    """A deleted account (SessionControl): every connection of the user is closed with the
    code and reason given, at once; other users and the same sub in another org stay."""
    hub = Hub()
    a1, a2, b, other_org = make_conn("a"), make_conn("a"), make_conn("b"), make_conn("a", org="x")
    closed: list[tuple[str, CloseCode, str]] = []

    def closer(conn: Conn) -> None:
        def close(code: CloseCode, reason: str) -> None:  # as Connection.close_soon does
            closed.append((conn.client.session_id, code, reason))
            hub.detach(conn.client)

        conn.client.on_close = close

    for c in (a1, a2, b, other_org):
        closer(c)
        member(hub, c, "c1")
        sub(hub, c, ALL_CONV)
    a2.client.session_id = "s_a2"
    n = hub.disconnect_user(ORG, "a", CloseCode.POLICY_VIOLATION, "account deleted")
    assert n == 2
    assert sorted(closed) == [
        ("s_a", CloseCode.POLICY_VIOLATION, "account deleted"),
        ("s_a2", CloseCode.POLICY_VIOLATION, "account deleted"),
    ]
    assert hub.connections_of(ORG, "a") == 0
    assert hub.connections_of("x", "a") == 1 and hub.connections_of(ORG, "b") == 1
    # no delivery to the closed ones after that; the others still receive
    hub.publish_channel_events([event("c1", 1)])
    assert await drain(a1.outbox) == [] and await drain(a2.outbox) == []
    assert seqs(await drain(b.outbox)) == [1]
    assert hub.disconnect_user(ORG, "a", CloseCode.POLICY_VIOLATION, "account deleted") == 0
    assert hub.disconnect_user(ORG, "nobody", CloseCode.POLICY_VIOLATION, "x") == 0


async def test_user_gone_when_the_last_connection_detaches() -> None:
    """ConnectionWatch: the lock service hears of a user whose last connection closed."""
    hub = Hub()
    gone: list[tuple[str, str]] = []
    hub.on_user_gone(lambda org, user: gone.append((org, user)))
    a1, a2, b = make_conn("a"), make_conn("a"), make_conn("b")
    for c in (a1, a2, b):
        hub.attach(c.client, loading=False)
    assert hub.connections_of(ORG, "a") == 2
    hub.detach(a1.client)
    assert gone == []  # one of a's connections is still open
    hub.detach(a2.client)
    hub.detach(b.client)
    assert gone == [(ORG, "a"), (ORG, "b")]
    assert hub.connections_of(ORG, "a") == 0
