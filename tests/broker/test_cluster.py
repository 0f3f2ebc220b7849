"""The hub's cluster link over a recording backend (a test double at the port boundary):
what goes on the bus, ref-counted interest, per-channel order of events from other
nodes with the gap read from the log, membership and presence across nodes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
import pytest
import trio

from parley.broker.cluster import MEMBERS_SUBJECT, bus_subject
from parley.broker.hub import Hub
from parley.broker.protocol import channel_event_frame
from parley.core.events import EventName
from parley.core.records import ChannelEvent
from parley.core.topics import parse_pattern
from tests.support.broker import ORG, Conn, drain, event, make_conn, post_topic


class RecordingBackend:
    clustered = True

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes]] = []
        self.holders: dict[str, int] = {}
        self.receive: Callable[[str, bytes], None] = lambda s, p: None
        self.on_connect: Callable[[], None] = lambda: None
        self.settles = 0
        #: another node's backend: what this one publishes reaches it when it holds the subject
        self.peer: RecordingBackend | None = None

    def start(self, receive: Callable[[str, bytes], None], on_connect: Callable[[], None]) -> None:
        self.receive, self.on_connect = receive, on_connect

    def publish(self, subject: str, payload: bytes) -> None:
        self.sent.append((subject, payload))
        if self.peer is not None and subject in self.peer.holders:
            self.peer.receive(subject, payload)

    def subscribe(self, subject: str) -> bool:
        self.holders[subject] = self.holders.get(subject, 0) + 1
        return self.holders[subject] == 1

    def unsubscribe(self, subject: str) -> bool:
        self.holders[subject] -= 1
        if self.holders[subject] == 0:
            del self.holders[subject]
            return True
        return False

    async def run(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()

    async def settled(self) -> None:
        self.settles += 1

    async def check(self) -> str:
        return "ok"


class Log:
    def __init__(self, events: list[ChannelEvent]) -> None:
        self.events = events
        self.reads: list[tuple[str, int]] = []

    async def events_after(
        self, org: str, channel_id: str, after_seq: int, limit: int
    ) -> list[ChannelEvent]:
        self.reads.append((channel_id, after_seq))
        return [e for e in self.events if e.channel_id == channel_id and e.seq > after_seq][:limit]


def clustered(log: Log | None = None) -> tuple[Hub, RecordingBackend]:
    hub = Hub()
    backend = RecordingBackend()
    hub.join_cluster(backend, log or Log([]), gap_wait=0.1)
    return hub, backend


def member_conn(hub: Hub, user: str, pattern: str, *channels: str) -> Conn:
    conn = make_conn(user)
    state = hub.attach(conn.client, loading=False)
    state.channels = set(channels)
    hub.presence.reindex(state)
    assert hub.subscribe(conn.client, pattern, parse_pattern(pattern))
    return conn


def remote_channel_event(ev: ChannelEvent) -> bytes:
    header = orjson.dumps([ev.org, ev.channel_id, ev.seq, ev.event, None])
    return b"C" + header + b"\n" + channel_event_frame(ev)


def test_the_memory_backend_builds_no_link() -> None:
    from parley.broker.bus import MemoryBackend

    hub = Hub()
    hub.join_cluster(MemoryBackend(), Log([]), gap_wait=0.1)
    assert hub.link is None


async def test_interest_is_one_bus_subscription_per_subject_widened_for_channels() -> None:
    hub, backend = clustered()
    base = set(backend.holders)  # membership, control, presence
    a = member_conn(hub, "a", post_topic("c1"), "c1")
    b = member_conn(hub, "b", post_topic("c1"), "c1")
    widened = bus_subject(parse_pattern(post_topic("c1")))
    assert widened == f"events.{ORG}.conversations.conversation.*.c1"
    assert set(backend.holders) - base == {widened}
    hub.detach(a.client)
    assert hub.link is not None
    hub.link.release_interest()
    assert widened in backend.holders
    # an idempotent re-subscribe (unsubscribe, subscribe in one step) keeps the bus one
    hub.unsubscribe(b.client, post_topic("c1"))
    assert hub.subscribe(b.client, post_topic("c1"), parse_pattern(post_topic("c1")))
    hub.link.release_interest()
    assert backend.holders[widened] == 1
    hub.unsubscribe(b.client, post_topic("c1"))
    assert widened in backend.holders  # released by the link's task, after this step
    hub.link.release_interest()
    assert set(backend.holders) == base


async def test_a_service_event_goes_on_the_bus_once_with_its_frame() -> None:
    hub, backend = clustered()
    local = member_conn(hub, "a", f"events.{ORG}.billing.>")
    assert hub.publish(f"events.{ORG}.billing.paid.x.y", {"n": 1}) == 1
    ((subject, payload),) = [(s, p) for s, p in backend.sent if s.startswith("events.")]
    assert subject == f"events.{ORG}.billing.paid.x.y"
    assert payload.startswith(b"E\n")
    (frame,) = await drain(local.outbox)
    # another node receives it: its subscriber gets the same event
    other, _ = clustered()
    remote = member_conn(other, "r", f"events.{ORG}.billing.>")
    assert other.link is not None
    other.link._receive(subject, payload)
    assert await drain(remote.outbox) == [frame]


async def test_remote_events_out_of_order_are_delivered_in_order_with_the_gap_read(
    autojump_clock: trio.abc.Clock,
) -> None:
    stored = [event("c1", s) for s in range(1, 6)]
    log = Log(stored)
    hub, _ = clustered(log)
    bob = member_conn(hub, "bob", post_topic("c1"), "c1")
    link = hub.link
    assert link is not None
    async with trio.open_nursery() as nursery:
        nursery.start_soon(link.run)
        link._receive(post_topic("c1"), remote_channel_event(stored[0]))
        link._receive(post_topic("c1"), remote_channel_event(stored[2]))  # 2 is missing
        link._receive(post_topic("c1"), remote_channel_event(stored[4]))
        await trio.sleep(0.05)
        assert [f["seq"] for f in await drain(bob.outbox)] == [1]
        await trio.sleep(0.1)  # past the gap wait: 2 and 4 are read from the log
        assert [f["seq"] for f in await drain(bob.outbox)] == [2, 3, 4, 5]
        assert log.reads == [("c1", 1)]
        link._receive(post_topic("c1"), remote_channel_event(stored[3]))  # late duplicate
        assert await drain(bob.outbox) == []
        nursery.cancel_scope.cancel()


async def test_a_removal_on_another_node_applies_at_once() -> None:
    hub, _ = clustered()
    carol = member_conn(hub, "carol", f"events.{ORG}.tasks.>", "c1")
    link = hub.link
    assert link is not None
    link._receive(MEMBERS_SUBJECT, b"M" + orjson.dumps([ORG, "c1", "carol", False]))
    assert not carol.client.member_of("c1")
    hub.publish(f"events.{ORG}.tasks.task.created.t1", {"x": 1}, members_of="c1")
    assert await drain(carol.outbox) == []


async def test_local_commits_go_on_the_bus_with_their_seq_and_membership() -> None:
    hub, backend = clustered()
    ev = event("c1", 1, EventName.MEMBER_REMOVED, {"user_id": "dave"})
    hub.publish_channel_events([ev])
    kinds = [(s, p[:1]) for s, p in backend.sent if not s.startswith("_parley.presence")]
    assert kinds[-2:] == [(ev.topic, b"C"), (MEMBERS_SUBJECT, b"M")]


async def test_presence_merges_other_nodes_and_forgets_a_node_gone() -> None:
    hub, _ = clustered()
    watcher = member_conn(hub, "bob", post_topic("c1"), "c1")
    hub.presence.flush(0.0)
    await drain(watcher.outbox)
    hub.presence.remote("n2", [[ORG, "alice", "online", None, ["c1"], 2]])
    assert hub.connections_anywhere(ORG, "alice") == 2
    hub.presence.flush(1.0)
    (frame,) = await drain(watcher.outbox)
    assert [(u["user_id"], u["status"]) for u in frame["users"]] == [("alice", "online")]
    assert hub.presence.lookup(ORG, ["alice"])[0]["status"] == "online"
    hub.presence.node_gone("n2")
    assert hub.connections_anywhere(ORG, "alice") == 0
    hub.presence.flush(2.0)
    (frame,) = await drain(watcher.outbox)
    assert [(u["user_id"], u["status"]) for u in frame["users"]] == [("alice", "offline")]
    assert hub.presence.lookup(ORG, ["alice"])[0]["status"] == "offline"


async def test_a_request_is_served_by_the_node_it_names_and_errors_cross_back(
    autojump_clock: trio.abc.Clock,
) -> None:
    from parley.core.codes import ErrorCode
    from parley.core.errors import ClientError

    (hub_a, back_a), (hub_b, back_b) = clustered(), clustered()
    back_a.peer, back_b.peer = back_b, back_a
    link_a, link_b = hub_a.link, hub_b.link
    assert link_a is not None and link_b is not None
    seen: list[dict[str, Any]] = []

    async def handler(request: dict[str, Any]) -> dict[str, Any]:
        seen.append(request)
        if request["op"] == "conflict":
            raise ClientError(ErrorCode.CONFLICT, "expected chunk index 2, got 7")
        if request["op"] == "bug":
            raise RuntimeError("boom")
        await trio.sleep(0.5)  # the holder may await the store
        return {"echo": request["op"]}

    link_a.serve(handler)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(link_a.run)
        await trio.sleep(0.01)  # the link's task has its nursery
        assert await link_b.forward(link_a.node_id, {"op": "append"}) == {"echo": "append"}
        with pytest.raises(ClientError) as conflict:
            await link_b.forward(link_a.node_id, {"op": "conflict"})
        assert (conflict.value.code, conflict.value.message) == (
            ErrorCode.CONFLICT,
            "expected chunk index 2, got 7",
        )
        with pytest.raises(ClientError) as bug:
            await link_b.forward(link_a.node_id, {"op": "bug"})
        assert bug.value.code == ErrorCode.INTERNAL
        # a node nobody serves (gone): unavailable after the call timeout, not a hang
        started = trio.current_time()
        with pytest.raises(ClientError) as gone:
            await link_b.forward("0123456789ab", {"op": "append"})
        assert gone.value.code == ErrorCode.UNAVAILABLE and "no answer" in gone.value.message
        assert trio.current_time() - started == link_b.call_timeout
        assert [r["op"] for r in seen] == ["append", "conflict", "bug"]
        assert not link_b._calls  # nothing left waiting
        nursery.cancel_scope.cancel()
