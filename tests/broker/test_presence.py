"""Presence and typing in the hub, sans-IO: frames queued on real outboxes, virtual time."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
import trio
import trio.testing

from parley.broker.hub import Hub
from parley.broker.presence import PresenceConfig
from parley.broker.session import Session
from parley.core.codes import ErrorCode
from parley.core.events import EventName
from parley.core.limits import Limits
from parley.core.topics import parse_pattern
from tests.broker.test_session import VERIFIER
from tests.support.broker import ORG, Conn, drain, event, make_conn

CONV = f"events.{ORG}.conversations.>"


class User:
    """One connection of a user on the hub, with a session for its commands."""

    def __init__(self, hub: Hub, sub: str, *channels: str, org: str = ORG) -> None:
        self.hub = hub
        self.conn: Conn = make_conn(sub, org=org, max_frames=10_000)
        user = hub.attach(self.conn.client, loading=True)
        hub.user_loaded(user, set(channels))
        pattern = CONV.replace(ORG, org)
        hub.subscribe(self.conn.client, pattern, parse_pattern(pattern))
        self.session = Session(
            self.conn.client, hub, Limits(), ops=None, verifier=VERIFIER, now=0.0
        )
        self.next_id = 1

    def call(self, op: str, now: float = 0.0, **body: Any) -> None:
        cid, self.next_id = self.next_id, self.next_id + 1
        cmd = {"id": cid, "op": op, **body}
        assert self.session.handle_text(orjson.dumps(cmd).decode(), now) is None

    async def frames(self) -> list[Any]:
        return await drain(self.conn.outbox)

    async def replies(self) -> list[Any]:
        return [f for f in await self.frames() if "ok" in f]

    async def presence(self) -> list[dict[str, Any]]:
        """The presence frames queued since last asked."""
        return [f for f in await self.frames() if f.get("type") == "presence"]

    def leave(self) -> None:
        self.hub.detach(self.conn.client)


def statuses(frames: list[dict[str, Any]]) -> list[dict[str, str]]:
    return [{u["user_id"]: u["status"] for u in f["users"]} for f in frames]


# -- typing -------------------------------------------------------------------------------


async def test_typing_reaches_other_members_only() -> None:
    hub = Hub()
    alice, bob = User(hub, "alice", "c1"), User(hub, "bob", "c1")
    carol = User(hub, "carol", "c2")
    eve = User(hub, "alice", "c1", org="other")
    alice.call("typing", channel="c1")
    own = [f for f in await alice.frames() if f.get("type") != "presence"]
    assert own == [{"id": 1, "ok": True, "channel": "c1", "sent": True}]  # no typing to self
    got = [f for f in await bob.frames() if f.get("event") == "typing"]
    assert len(got) == 1
    assert got[0]["channel"] == "c1"
    assert got[0]["data"] == {"user_id": "alice", "expires_in": 5.0}
    assert "seq" not in got[0]  # ephemeral: never in the log
    assert [f for f in await carol.frames() if f.get("event") == "typing"] == []
    assert [f for f in await eve.frames() if f.get("event") == "typing"] == []


async def test_typing_refused_for_non_member_and_bad_input() -> None:
    hub = Hub()
    alice = User(hub, "alice", "c1")
    User(hub, "bob", "c2")
    alice.call("typing", channel="c2")
    alice.call("typing", channel=7)
    alice.call("typing")
    codes = [r["error"]["code"] for r in await alice.replies()]
    assert codes == [ErrorCode.NOT_FOUND, ErrorCode.BAD_REQUEST, ErrorCode.BAD_REQUEST]


async def test_typing_repeats_coalesce_then_refresh() -> None:
    hub = Hub(PresenceConfig(typing_refresh=2.0))
    alice, bob = User(hub, "alice", "c1"), User(hub, "bob", "c1")
    alice.call("typing", now=10.0, channel="c1")
    alice.call("typing", now=11.0, channel="c1")  # within the refresh window
    alice.call("typing", now=12.5, channel="c1")
    assert [r["sent"] for r in await alice.replies()] == [True, False, True]
    assert len([f for f in await bob.frames() if f.get("event") == "typing"]) == 2


async def test_typing_rate_limited_per_user() -> None:
    hub = Hub(PresenceConfig(typing_rate=1.0, typing_burst=3))
    channels = [f"c{i}" for i in range(5)]
    alice = User(hub, "alice", *channels)
    for ch in channels:
        alice.call("typing", now=0.0, channel=ch)
    alice.call("typing", now=1.0, channel="c4")  # one token back after a second
    replies = await alice.replies()
    assert [r["ok"] for r in replies] == [True, True, True, False, False, True]
    assert replies[3]["error"]["code"] == ErrorCode.RATE_LIMITED


# -- presence -----------------------------------------------------------------------------


async def test_presence_pushed_to_users_sharing_a_channel() -> None:
    hub = Hub()
    bob = User(hub, "bob", "c1")
    carol = User(hub, "carol", "c2")
    hub.presence.flush(0.0)
    await bob.presence()
    await carol.presence()
    alice = User(hub, "alice", "c1")
    assert hub.presence.flush(1.0) == 2  # bob, and alice's own connection
    assert statuses(await bob.presence()) == [{"alice": "online"}]
    assert await carol.presence() == []
    await alice.presence()
    alice.leave()
    hub.presence.flush(2.0)
    (frame,) = await bob.presence()
    assert frame["users"][0]["status"] == "offline"
    assert frame["users"][0]["last_seen"].endswith("Z")
    assert frame["truncated"] is False
    assert hub.presence.index_size == 2  # bob and carol only


async def test_presence_flapping_within_an_interval_is_not_pushed() -> None:
    hub = Hub()
    alice, bob = User(hub, "alice", "c1"), User(hub, "bob", "c1")
    hub.presence.flush(0.0)
    await bob.presence()
    alice.leave()
    alice = User(hub, "alice", "c1")
    assert hub.presence.flush(1.0) == 1  # only the new connection's own snapshot
    assert await bob.presence() == []
    assert statuses(await alice.presence()) == [{"bob": "online"}]
    assert hub.presence.flush(2.0) == 0  # nothing dirty


async def test_presence_other_org_never_sees() -> None:
    hub = Hub()
    eve = User(hub, "eve", "c1", org="other")
    hub.presence.flush(0.0)
    await eve.presence()
    User(hub, "alice", "c1")
    hub.presence.flush(1.0)
    assert await eve.presence() == []
    assert hub.presence.lookup("other", ["alice"])[0]["status"] == "offline"
    assert hub.presence.lookup(ORG, ["alice"])[0]["status"] == "online"


async def test_one_aggregated_frame_per_watcher_per_flush() -> None:
    """N users join one channel in an interval: each watcher gets one frame, not N."""
    hub = Hub()
    watchers = [User(hub, f"w{i}", "big") for i in range(40)]
    hub.presence.flush(0.0)
    for w in watchers:
        await w.presence()
    joiners = [User(hub, f"j{i}", "big") for i in range(40)]
    assert hub.presence.flush(1.0) == 80
    for w in watchers:
        (frame,) = await w.presence()
        assert len(frame["users"]) == 40
    assert hub.presence.flush(2.0) == 0
    for j in joiners[:10]:
        j.leave()
    assert hub.presence.flush(3.0) == 70
    (frame,) = await watchers[0].presence()
    assert {u["status"] for u in frame["users"]} == {"offline"}
    assert len(frame["users"]) == 10


async def test_frame_is_capped_and_says_truncated() -> None:
    hub = Hub(PresenceConfig(max_entries=3))
    bob = User(hub, "bob", "c1", "c2")
    hub.presence.flush(0.0)
    await bob.presence()
    for i in range(5):
        User(hub, f"u{i}", "c1")
        User(hub, f"v{i}", "c2")
    hub.presence.flush(1.0)
    (frame,) = await bob.presence()
    assert len(frame["users"]) == 3
    assert frame["truncated"] is True


async def test_added_member_announced_to_new_channel() -> None:
    hub = Hub()
    alice, bob = User(hub, "alice", "c1"), User(hub, "bob", "c2")
    hub.presence.flush(0.0)
    await alice.presence()
    await bob.presence()
    hub.publish_channel_events([event("c2", 1, EventName.MEMBER_ADDED, {"user_id": "alice"})])
    hub.presence.flush(1.0)
    assert statuses(await bob.presence()) == [{"alice": "online"}]
    hub.publish_channel_events([event("c2", 2, EventName.MEMBER_REMOVED, {"user_id": "alice"})])
    alice.leave()
    hub.presence.flush(2.0)
    assert await bob.presence() == []  # no longer shares a channel


async def test_away_when_every_connection_says_so() -> None:
    hub = Hub()
    phone, laptop = User(hub, "alice", "c1"), User(hub, "alice", "c1")
    bob = User(hub, "bob", "c1")
    hub.presence.flush(0.0)
    await bob.presence()
    phone.call("presence", status="away")
    assert (await phone.replies())[0]["status"] == "online"  # the laptop is still here
    hub.presence.flush(1.0)
    assert await bob.presence() == []
    laptop.call("presence", status="away")
    assert (await laptop.replies())[0]["status"] == "away"
    hub.presence.flush(2.0)
    assert statuses(await bob.presence()) == [{"alice": "away"}]
    laptop.call("presence", status="online")
    assert (await laptop.replies())[0]["status"] == "online"
    hub.presence.flush(3.0)
    assert statuses(await bob.presence()) == [{"alice": "online"}]
    laptop.call("presence", status="busy")
    (reply,) = await laptop.replies()
    assert reply["error"]["code"] == ErrorCode.BAD_REQUEST


async def test_idle_turns_away_and_activity_back_online(
    autojump_clock: trio.testing.MockClock,
) -> None:
    hub = Hub(PresenceConfig(flush_interval=1.0, idle_after=60.0))
    async with trio.open_nursery() as nursery:
        nursery.start_soon(hub.presence.run)
        bob = User(hub, "bob", "c1")
        alice = User(hub, "alice", "c1")
        await trio.sleep(1.5)
        assert statuses(await bob.presence()) == [{"alice": "online", "bob": "online"}]
        start = trio.current_time()
        while True:  # bob keeps talking; alice does not
            bob.call("ping", now=trio.current_time())
            await trio.sleep(1.0)
            frames = await bob.presence()
            if frames:
                break
        assert statuses(frames) == [{"alice": "away"}]
        assert 60.0 <= trio.current_time() - start <= 62.0
        alice.call("ping", now=trio.current_time())
        await trio.sleep(1.0)
        assert statuses(await bob.presence()) == [{"alice": "online"}]
        nursery.cancel_scope.cancel()


@pytest.mark.parametrize("known", [True, False])
async def test_lookup_offline_last_seen(known: bool) -> None:
    hub = Hub()
    if known:
        User(hub, "alice", "c1").leave()
        hub.presence.flush(0.0)
    (entry,) = hub.presence.lookup(ORG, ["alice"])
    assert entry["status"] == "offline"
    assert (entry["last_seen"] is not None) is known


async def test_new_connection_learns_who_is_here_once_loaded() -> None:
    hub = Hub(PresenceConfig(max_entries=3))
    bob, carol = User(hub, "bob", "c1"), User(hub, "carol", "c1", "c2")
    for i in range(4):
        User(hub, f"x{i}", "big")
    carol.call("presence", status="away")
    hub.presence.flush(0.0)
    await bob.presence()
    # alice's channel set is still loading: nothing for her yet
    conn = make_conn("alice")
    state = hub.attach(conn.client, loading=True)
    hub.presence.flush(1.0)
    assert await drain(conn.outbox) == []
    hub.user_loaded(state, {"c1"})
    hub.presence.flush(2.0)
    (frame,) = [f for f in await drain(conn.outbox) if f["type"] == "presence"]
    assert {u["user_id"]: u["status"] for u in frame["users"]} == {
        "alice": "online",
        "bob": "online",
        "carol": "away",
    }
    assert statuses(await bob.presence()) == [{"alice": "online"}]
    hub.presence.flush(3.0)
    assert await drain(conn.outbox) == []  # once only
    # added to a big channel: one frame, capped
    hub.publish_channel_events([event("big", 1, EventName.MEMBER_ADDED, {"user_id": "alice"})])
    hub.presence.flush(4.0)
    (frame,) = [f for f in await drain(conn.outbox) if f.get("type") == "presence"]
    assert len(frame["users"]) == 3
    assert frame["truncated"] is True


async def test_no_empty_snapshot_without_channels() -> None:
    hub = Hub()
    loner = User(hub, "loner")
    assert hub.presence.flush(1.0) == 0
    assert await loner.presence() == []
