from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from typing import Any

import orjson
import pytest
import trio

from parley.broker.auth import TokenVerifier, issue_token
from parley.broker.hub import Hub
from parley.broker.session import MAX_RECOVER_CHANNELS, RECOVERY_PAGE, Deferred, Session
from parley.core.codes import CloseCode, ErrorCode
from parley.core.errors import ClientError, CloseConnection
from parley.core.events import EventName
from parley.core.limits import Limits
from parley.core.records import ChannelEvent, Draft
from tests.support.broker import (
    EXP,
    ORG,
    Conn,
    decode_frames,
    drain,
    event,
    make_conn,
    post_each,
    post_topic,
)

# pyjwt warns (an error here) on HMAC keys below 32 bytes, so not Settings(jwt_secret="s").
SECRET = "s" * 32
VERIFIER = TokenVerifier(SECRET)
CONV = f"events.{ORG}.conversations.>"
POSTED = f"events.{ORG}.conversations.conversation.message_posted.*"


class RecordingOps:
    """A ChannelOps double: records calls, serves per-channel logs, refuses non-members."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.logs: dict[str, list[ChannelEvent]] = {}
        self.members: set[str] = set()
        #: Called inside events_after after the log was read (events committed meanwhile).
        self.during_read: Callable[[str], None] | None = None

    async def user_channel_ids(self, org: str, user_id: str) -> set[str]:
        self.calls.append(("user_channel_ids", org, user_id))
        return set(self.members)

    async def user_channel_sets(
        self, users: Sequence[tuple[str, str]]
    ) -> dict[tuple[str, str], set[str]]:
        return {key: await self.user_channel_ids(*key) for key in users}

    async def last_seqs(self, org: str, user_id: str, channel_ids: Sequence[str]) -> dict[str, int]:
        self.calls.append(("last_seqs", org, user_id, list(channel_ids)))
        await trio.lowlevel.checkpoint()
        if self.during_read is not None:
            for channel_id in channel_ids:
                self.during_read(channel_id)
        logs = self.logs
        return {
            c: (logs[c][-1].seq if logs.get(c) else 0) for c in channel_ids if c in self.members
        }

    async def post(
        self, org: str, user_id: str, channel_id: str, text: str, idempotency_key: str | None
    ) -> dict[str, Any]:
        self.calls.append(("post", org, user_id, channel_id, text, idempotency_key))
        await trio.lowlevel.checkpoint()
        return {"message_id": "m_1", "seq": 7}

    async def post_many(self, drafts: Sequence[Draft]) -> list[dict[str, Any] | Exception]:
        """As the domain's: each in turn through :meth:`post`."""
        return await post_each(self, drafts)

    async def mark_read(self, org: str, user_id: str, channel_id: str, seq: int) -> int:
        self.calls.append(("mark_read", org, user_id, channel_id, seq))
        await trio.lowlevel.checkpoint()
        return max(seq, 3)

    async def events_after(
        self, org: str, user_id: str, channel_id: str, after_seq: int, limit: int
    ) -> list[ChannelEvent]:
        self.calls.append(("events_after", org, user_id, channel_id, after_seq, limit))
        await trio.lowlevel.checkpoint()
        if channel_id not in self.members:
            raise ClientError(ErrorCode.NOT_FOUND, f"not a member of {channel_id}")
        found = [e for e in self.logs.get(channel_id, []) if e.seq > after_seq][:limit]
        if self.during_read is not None:
            self.during_read(channel_id)
        return found

    async def conversation_op(
        self, org: str, user_id: str, op: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        self.calls.append(("conversation_op", org, user_id, op, body))
        await trio.lowlevel.checkpoint()
        return {"channel": body["channel"], "done": op}


class Harness:
    def __init__(
        self,
        *,
        sub: str = "alice",
        roles: tuple[str, ...] = (),
        limits: Limits | None = None,
        ops: RecordingOps | None = None,
        channels: tuple[str, ...] = (),
        hub: Hub | None = None,
    ) -> None:
        self.hub = hub if hub is not None else Hub()
        self.conn: Conn = make_conn(sub, roles=roles)
        self.user = self.hub.attach(self.conn.client, loading=False)
        self.user.channels.update(channels)
        self.ops = ops
        self.session = Session(
            self.conn.client,
            self.hub,
            limits if limits is not None else Limits(),
            ops=ops,
            verifier=VERIFIER,
            now=0.0,
        )

    def send(self, cmd: dict[str, Any], now: float = 0.0) -> Deferred | None:
        return self.session.handle_text(orjson.dumps(cmd).decode(), now)

    def send_sync(self, cmd: dict[str, Any], now: float = 0.0) -> None:
        assert self.send(cmd, now) is None

    async def frames(self) -> list[Any]:
        return await drain(self.conn.outbox)

    async def reply(self) -> Any:
        frames = await self.frames()
        assert len(frames) == 1, frames
        return frames[0]

    async def error_code(self, cmd: dict[str, Any], now: float = 0.0) -> tuple[Any, Any]:
        self.send_sync(cmd, now)
        r = await self.reply()
        assert r["ok"] is False
        return r["id"], r["error"]["code"]


def err(cid: int | None, code: ErrorCode, message: str) -> dict[str, Any]:
    return {"id": cid, "ok": False, "error": {"code": code.value, "message": message}}


# -- subscribe / unsubscribe ------------------------------------------------------


async def test_subscribe_and_unsubscribe() -> None:
    h = Harness()
    h.send_sync({"id": 1, "op": "subscribe", "topic": "events.acme.client.>"})
    assert await h.reply() == {"id": 1, "ok": True, "topic": "events.acme.client.>"}
    assert h.hub.subscription_count == 1
    h.send_sync({"id": 2, "op": "unsubscribe", "topic": "events.acme.client.>"})
    assert await h.reply() == {"id": 2, "ok": True, "topic": "events.acme.client.>"}
    assert h.hub.subscription_count == 0


@pytest.mark.parametrize(
    ("topic", "code"),
    [
        ("events.acme.>.x", ErrorCode.INVALID_TOPIC),
        ("events.acme.a b", ErrorCode.INVALID_TOPIC),
        ("events", ErrorCode.INVALID_TOPIC),
        ("events.other.>", ErrorCode.FORBIDDEN),
        ("events.*.>", ErrorCode.FORBIDDEN),
        ("events.>", ErrorCode.FORBIDDEN),
        ("metrics.acme.x", ErrorCode.FORBIDDEN),
        (7, ErrorCode.BAD_REQUEST),
        (None, ErrorCode.BAD_REQUEST),
    ],
)
async def test_subscribe_refused(topic: object, code: ErrorCode) -> None:
    h = Harness()
    assert await h.error_code({"id": 3, "op": "subscribe", "topic": topic}) == (3, code.value)
    assert h.hub.subscription_count == 0


async def test_subscribe_other_org_message() -> None:
    h = Harness()
    h.send_sync({"id": 3, "op": "subscribe", "topic": "events.other.>"})
    assert await h.reply() == err(3, ErrorCode.FORBIDDEN, "topic outside your org 'acme'")


async def test_subscribing_the_same_pattern_again_is_not_an_error() -> None:
    """Idempotent: the same reply, one subscription, each event delivered once."""
    h = Harness()
    h.send_sync({"id": 1, "op": "subscribe", "topic": "events.acme.client.x"})
    h.send_sync({"id": 2, "op": "subscribe", "topic": "events.acme.client.x"})
    assert await h.frames() == [
        {"id": 1, "ok": True, "topic": "events.acme.client.x"},
        {"id": 2, "ok": True, "topic": "events.acme.client.x"},
    ]
    assert h.hub.subscription_count == 1
    assert h.hub.publish("events.acme.client.x", {"n": 1}) == 1
    assert [f["data"] for f in await h.frames()] == [{"n": 1}]
    assert h.hub.unsubscribe(h.conn.client, "events.acme.client.x")
    assert h.hub.subscription_count == 0


async def test_too_many_subscriptions() -> None:
    h = Harness(limits=Limits(max_subscriptions=2))
    h.send_sync({"id": 1, "op": "subscribe", "topic": "events.acme.client.a"})
    h.send_sync({"id": 2, "op": "subscribe", "topic": "events.acme.client.b"})
    assert [f["ok"] for f in await h.frames()] == [True, True]
    h.send_sync({"id": 3, "op": "subscribe", "topic": "events.acme.client.c"})
    assert await h.reply() == err(
        3, ErrorCode.TOO_MANY_SUBSCRIPTIONS, "at most 2 subscriptions per connection"
    )
    assert h.hub.subscription_count == 2
    # Unsubscribing frees a slot.
    h.send_sync({"id": 4, "op": "unsubscribe", "topic": "events.acme.client.a"})
    h.send_sync({"id": 5, "op": "subscribe", "topic": "events.acme.client.c"})
    assert [(f["id"], f["ok"]) for f in await h.frames()] == [(4, True), (5, True)]


async def test_unsubscribe_not_subscribed() -> None:
    h = Harness()
    h.send_sync({"id": 9, "op": "unsubscribe", "topic": "events.acme.x"})
    assert await h.reply() == err(9, ErrorCode.NOT_SUBSCRIBED, "not subscribed to 'events.acme.x'")


# -- publish ----------------------------------------------------------------------


async def test_user_publishes_under_client_source() -> None:
    h = Harness()
    listener = make_conn("bob")
    h.hub.subscribe(listener.client, "events.acme.client.>", ["events", "acme", "client", ">"])
    h.send_sync({"id": 1, "op": "publish", "topic": "events.acme.client.typing", "data": {"a": 1}})
    assert await h.reply() == {"id": 1, "ok": True, "deliveries": 1}
    [pushed] = await drain(listener.outbox)
    assert (pushed["type"], pushed["topic"], pushed["data"]) == (
        "event",
        "events.acme.client.typing",
        {"a": 1},
    )


async def test_null_data_is_data() -> None:
    h = Harness()
    h.send_sync({"id": 1, "op": "publish", "topic": "events.acme.client.x", "data": None})
    assert await h.reply() == {"id": 1, "ok": True, "deliveries": 0}


@pytest.mark.parametrize(
    ("roles", "topic", "allowed"),
    [
        ((), "events.acme.client.x", True),
        ((), "events.acme.orders.created", False),
        ((), "events.acme.conversations.conversation.message_posted.c1", False),
        (("service",), "events.acme.orders.created", True),
        (("service",), "events.acme.client.x", True),
        (("service",), "events.acme.conversations.conversation.message_posted.c1", False),
        (("service",), "events.acme.conversations.x", False),
        (("publisher",), "events.acme.orders.created", True),
        (("publisher",), "events.acme.conversations.conversation.message_posted.c1", False),
        (("admin",), "events.acme.orders.created", False),
    ],
)
async def test_publish_rules(roles: tuple[str, ...], topic: str, allowed: bool) -> None:
    h = Harness(roles=roles)
    h.send_sync({"id": 4, "op": "publish", "topic": topic, "data": 1})
    r = await h.reply()
    if allowed:
        assert r == {"id": 4, "ok": True, "deliveries": 0}
    else:
        assert r == err(
            4,
            ErrorCode.FORBIDDEN,
            "publishing to this topic needs the service role (clients may publish "
            "under events.acme.client.>)",
        )


@pytest.mark.parametrize(
    ("cmd", "code"),
    [
        ({"topic": "events.other.client.x", "data": 1}, ErrorCode.FORBIDDEN),
        ({"topic": "events.acme.client.*", "data": 1}, ErrorCode.INVALID_TOPIC),
        ({"topic": "events.acme.client.>", "data": 1}, ErrorCode.INVALID_TOPIC),
        ({"data": 1}, ErrorCode.INVALID_TOPIC),
        ({"topic": "events.acme.client.x"}, ErrorCode.BAD_REQUEST),
    ],
)
async def test_publish_refused(cmd: dict[str, Any], code: ErrorCode) -> None:
    h = Harness(roles=("service",))
    assert await h.error_code({"id": 5, "op": "publish", **cmd}) == (5, code.value)


async def test_publish_two_segment_topic_is_refused_not_a_crash() -> None:
    h = Harness()
    h.send_sync({"id": 6, "op": "publish", "topic": "events.acme", "data": 1})
    assert (await h.reply())["error"]["code"] == "forbidden"


async def test_publish_rate_limit() -> None:
    h = Harness(limits=Limits(publish_rate=10, publish_burst=2))
    cmd = {"op": "publish", "topic": "events.acme.client.x", "data": 0}
    # (now, allowed): burst of 2, then 10 tokens/s (0.0625 s -> 0.625 token).
    plan = [
        (0.0, True),
        (0.0, True),
        (0.0, False),
        (0.0625, False),
        (0.125, True),
        (0.125, False),
        (10.0, True),
        (10.0, True),
        (10.0, False),
    ]
    for i, (now, _) in enumerate(plan):
        h.send_sync({"id": i, **cmd}, now)
    frames = await h.frames()
    assert [f["ok"] for f in frames] == [ok for _, ok in plan]
    assert frames[2] == err(2, ErrorCode.RATE_LIMITED, "over 10 publishes per second")
    assert h.session.bad_frames == 0


async def test_publish_rate_limit_is_per_user_over_all_connections() -> None:
    limits = Limits(publish_rate=10, publish_burst=4, user_publish_rate=10, user_publish_burst=6)
    hub = Hub()
    a1, a2 = Harness(hub=hub, limits=limits), Harness(hub=hub, limits=limits)
    bob = Harness(sub="bob", hub=hub, limits=limits)
    cmd = {"op": "publish", "topic": "events.acme.client.x", "data": 0}
    for i in range(4):
        a1.send_sync({"id": i, **cmd})
    for i in range(4):
        a2.send_sync({"id": i, **cmd})
    for i in range(4):
        bob.send_sync({"id": i, **cmd})
    # alice's two connections share 6 (each under its own 4); bob has his own.
    assert [f["ok"] for f in await a1.frames()] == [True] * 4
    second = await a2.frames()
    assert [f["ok"] for f in second] == [True, True, False, False]
    assert second[2] == err(2, ErrorCode.RATE_LIMITED, "over 10 publishes per second for this user")
    assert [f["ok"] for f in await bob.frames()] == [True] * 4
    # Refilled at user_publish_rate: 0.1 s later one more for alice, on either connection.
    a2.send_sync({"id": 9, **cmd}, 0.1)
    a1.send_sync({"id": 10, **cmd}, 0.1)
    assert (await a2.reply())["ok"] is True
    assert (await a1.reply())["error"]["code"] == "rate_limited"


async def test_refused_publish_takes_no_token() -> None:
    h = Harness(limits=Limits(publish_rate=10, publish_burst=2))
    for i in range(3):
        h.send_sync({"id": i, "op": "publish", "topic": "events.acme.orders.x", "data": 0})
    for i in range(3, 5):
        h.send_sync({"id": i, "op": "publish", "topic": "events.acme.client.x", "data": 0})
    frames = await h.frames()
    assert [(f["ok"], f.get("error", {}).get("code")) for f in frames] == [
        (False, "forbidden"),
        (False, "forbidden"),
        (False, "forbidden"),
        (True, None),
        (True, None),
    ]


# -- bad frames, ping, refresh ---------------------------------------------------


async def test_too_many_bad_frames_closes() -> None:
    h = Harness(limits=Limits(max_bad_frames=3))
    assert h.send({}, 0.0) is None  # a JSON object without an id: bad_request
    assert h.session.handle_text("not json", 0.0) is None
    # Refusals that are not protocol errors do not count.
    h.send_sync({"id": 1, "op": "unsubscribe", "topic": "events.acme.x"})
    h.send_sync({"id": 2, "op": "subscribe", "topic": "events.other.x"})
    assert h.session.bad_frames == 2
    with pytest.raises(CloseConnection) as info:
        h.send({"id": 3, "op": "dance"})
    assert info.value.code is CloseCode.POLICY_VIOLATION
    assert info.value.reason == "too many bad frames"
    frames = await h.frames()
    assert [(f["id"], f["error"]["code"]) for f in frames] == [
        (None, "bad_request"),
        (None, "bad_json"),
        (1, "not_subscribed"),
        (2, "forbidden"),
        (3, "unknown_op"),
    ]


async def test_ping() -> None:
    h = Harness()
    h.send_sync({"id": 11, "op": "ping"})
    r = await h.reply()
    assert sorted(r) == ["id", "ok", "ts"]
    assert (r["id"], r["ok"]) == (11, True)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", r["ts"]) is not None


async def test_refresh_same_user() -> None:
    h = Harness()
    now = time.time()
    token = issue_token(SECRET, sub="alice", org=ORG, ttl=7200, now=now)
    h.send_sync({"id": 1, "op": "refresh", "token": token})
    assert await h.reply() == {"id": 1, "ok": True, "expires_at": int(now + 7200)}
    assert h.session.claims.exp == float(int(now + 7200))


@pytest.mark.parametrize(("sub", "org"), [("bob", ORG), ("alice", "other")])
async def test_refresh_other_user_forbidden(sub: str, org: str) -> None:
    h = Harness()
    before = h.session.claims
    token = issue_token(SECRET, sub=sub, org=org, ttl=7200)
    h.send_sync({"id": 2, "op": "refresh", "token": token})
    assert await h.reply() == err(
        2, ErrorCode.FORBIDDEN, "a refreshed token must be for the same user"
    )
    assert h.session.claims is before


@pytest.mark.parametrize(
    ("token", "message"),
    [
        ("garbage", "malformed token"),
        (issue_token("x" * 32, sub="alice", org=ORG, ttl=60), "bad token signature"),
        (issue_token(SECRET, sub="alice", org=ORG, ttl=1, now=1000.0), "token expired"),
    ],
)
async def test_refresh_bad_token_unauthorized(token: str, message: str) -> None:
    h = Harness()
    h.send_sync({"id": 3, "op": "refresh", "token": token})
    assert await h.reply() == err(3, ErrorCode.UNAUTHORIZED, message)
    assert h.session.bad_frames == 0


async def test_refresh_missing_token() -> None:
    h = Harness()
    assert await h.error_code({"id": 4, "op": "refresh"}) == (4, "bad_request")


# -- post / read ------------------------------------------------------------------


@pytest.mark.parametrize(
    "cmd",
    [
        {"op": "post", "channel": "c1", "text": "hi"},
        {"op": "read", "channel": "c1", "seq": 1},
        {"op": "subscribe", "topic": CONV, "since": {"c1": 0}},
    ],
)
async def test_store_ops_unavailable_without_ops(cmd: dict[str, Any]) -> None:
    h = Harness(channels=("c1",))
    assert await h.error_code({"id": 1, **cmd}) == (1, "unavailable")
    assert h.hub.subscription_count == 0
    assert h.conn.client.recovering is None


async def test_post_deferred_calls_ops_then_replies() -> None:
    ops = RecordingOps()
    h = Harness(ops=ops)
    d = h.send({"id": 5, "op": "post", "channel": "c1", "text": "hi", "idempotency_key": "k"})
    assert isinstance(d, Deferred)
    assert d.cid == 5
    assert ops.calls == []
    assert await h.frames() == []
    await d.run()
    assert ops.calls == [("post", ORG, "alice", "c1", "hi", "k")]
    assert await h.reply() == {"id": 5, "ok": True, "message_id": "m_1", "seq": 7}


@pytest.mark.parametrize(
    "extra",
    [
        {"channel": "c1"},
        {"text": "hi"},
        {"channel": 1, "text": "hi"},
        {"channel": "c1", "text": "hi", "idempotency_key": ""},
        {"channel": "c1", "text": "hi", "idempotency_key": "k" * 129},
        {"channel": "c1", "text": "hi", "idempotency_key": 5},
    ],
)
async def test_post_bad_request(extra: dict[str, Any]) -> None:
    ops = RecordingOps()
    h = Harness(ops=ops)
    assert await h.error_code({"id": 6, "op": "post", **extra}) == (6, "bad_request")
    assert ops.calls == []


async def test_post_longest_idempotency_key() -> None:
    ops = RecordingOps()
    h = Harness(ops=ops)
    d = h.send({"id": 6, "op": "post", "channel": "c1", "text": "t", "idempotency_key": "k" * 128})
    assert d is not None
    await d.run()
    assert ops.calls == [("post", ORG, "alice", "c1", "t", "k" * 128)]


async def test_read_deferred() -> None:
    ops = RecordingOps()
    h = Harness(ops=ops)
    d = h.send({"id": 8, "op": "read", "channel": "c1", "seq": 2})
    assert d is not None
    assert d.cid == 8
    await d.run()
    assert ops.calls == [("mark_read", ORG, "alice", "c1", 2)]
    assert await h.reply() == {"id": 8, "ok": True, "channel": "c1", "read_seq": 3}


@pytest.mark.parametrize("seq", [-1, True, 1.5, "2", None])
async def test_read_bad_seq(seq: object) -> None:
    h = Harness(ops=RecordingOps())
    assert await h.error_code({"id": 9, "op": "read", "channel": "c1", "seq": seq}) == (
        9,
        "bad_request",
    )


# -- subscribe with recovery ---------------------------------------------------------


def recovering_harness(
    log: list[ChannelEvent], *, channels: tuple[str, ...] = ("c1",), limits: Limits | None = None
) -> tuple[Harness, RecordingOps]:
    ops = RecordingOps()
    ops.members = set(channels)
    for ev in log:
        ops.logs.setdefault(ev.channel_id, []).append(ev)
    return Harness(ops=ops, channels=channels, limits=limits), ops


async def test_recovery_replays_then_live_exactly_once_in_order() -> None:
    h, ops = recovering_harness([event("c1", s) for s in range(1, 6)])
    d = h.send({"id": 1, "op": "subscribe", "topic": CONV, "since": {"c1": 1}})
    assert d is not None
    assert h.hub.subscription_count == 1
    assert h.conn.client.recovering == {"c1": []}
    # Committed after the subscription, before the read: held back, and in the log too.
    h.hub.publish_channel_events([event("c1", 4), event("c1", 5)])
    # Committed while the log was read: live only.
    ops.during_read = lambda _: h.hub.publish_channel_events([event("c1", 6)])
    # Another channel is not held back.
    h.user.channels.add("c2")
    h.hub.publish_channel_events([event("c2", 1)])
    assert [(f["channel"], f["seq"]) for f in await h.frames()] == [("c2", 1)]

    await d.run()
    frames = await h.frames()
    assert [f.get("seq") for f in frames] == [2, 3, 4, 5, 6, None]
    assert frames[0] == {
        "type": "event",
        "topic": post_topic("c1"),
        "channel": "c1",
        "seq": 2,
        "event": "message_posted",
        "data": {"n": 2},
        "ts": "2026-11-22T06:00:00.000000Z",
    }
    assert frames[-1] == {
        "id": 1,
        "ok": True,
        "topic": CONV,
        "recovery": {"c1": {"recovered": True, "replayed": 4, "replayed_to": 5}},
    }
    assert ops.calls == [("events_after", ORG, "alice", "c1", 1, RECOVERY_PAGE + 1)]
    assert h.conn.client.recovering is None
    h.hub.publish_channel_events([event("c1", 7)])
    assert [f["seq"] for f in await h.frames()] == [7]


async def test_recovery_nothing_missed() -> None:
    h, _ = recovering_harness([event("c1", s) for s in range(1, 4)])
    d = h.send({"id": 2, "op": "subscribe", "topic": CONV, "since": {"c1": 3}})
    assert d is not None
    await d.run()
    assert await h.frames() == [
        {
            "id": 2,
            "ok": True,
            "topic": CONV,
            "recovery": {"c1": {"recovered": True, "replayed": 0, "replayed_to": 3}},
        }
    ]


async def test_recovery_skips_events_outside_the_pattern() -> None:
    log = [
        event("c1", 1),
        event("c1", 2, EventName.MESSAGE_EDITED),
        event("c1", 3),
        event("c1", 4, EventName.MEMBER_ADDED, {"user_id": "zed"}),
    ]
    h, _ = recovering_harness(log)
    d = h.send({"id": 3, "op": "subscribe", "topic": POSTED, "since": {"c1": 0}})
    assert d is not None
    await d.run()
    frames = await h.frames()
    assert [f.get("seq") for f in frames] == [1, 3, None]
    assert frames[-1]["recovery"] == {"c1": {"recovered": True, "replayed": 2, "replayed_to": 4}}


async def test_recovery_bounded_by_limit() -> None:
    h, ops = recovering_harness(
        [event("c1", s) for s in range(1, 6)], limits=Limits(recovery_max_events=2)
    )
    d = h.send({"id": 4, "op": "subscribe", "topic": CONV, "since": {"c1": 0}})
    assert d is not None
    await d.run()
    frames = await h.frames()
    assert [f.get("seq") for f in frames] == [1, 2, None]
    assert frames[-1]["recovery"] == {"c1": {"recovered": False, "replayed": 2, "replayed_to": 2}}
    assert ops.calls == [("events_after", ORG, "alice", "c1", 0, 3)]


@pytest.mark.parametrize("missed", [10_000, 50_000])
@pytest.mark.parametrize("size", [10, 16_000])
async def test_recovery_takes_what_the_outbox_can_and_says_where_to_page(
    missed: int, size: int
) -> None:
    """More missed than the outbox takes: the replay stops short of overflowing it (no
    slow-consumer close), in pages, and the reply says recovered false with replayed_to."""
    limits = Limits(outbox_max_frames=4096, outbox_max_bytes=8 << 20)
    pad = "x" * size
    log = [event("c1", s, data={"n": s, "pad": pad}) for s in range(1, missed + 1)]
    h, ops = recovering_harness(log, limits=limits)
    h.conn.client.outbox.max_frames, h.conn.client.outbox.max_bytes = 4096, 8 << 20
    d = h.send({"id": 1, "op": "subscribe", "topic": CONV, "since": {"c1": 0}})
    assert d is not None
    h.hub.publish_channel_events([event("c1", missed + 1)])  # live, held back
    await d.run()
    assert h.conn.overflows == []
    frames = await h.frames()
    reply = frames[-1]["recovery"]["c1"]
    to = reply["replayed_to"]
    assert reply == {"recovered": False, "replayed": to, "replayed_to": to}
    assert [f["seq"] for f in frames[:-1]] == [*range(1, to + 1), missed + 1]
    assert 0 < to < min(missed, limits.recovery_max_events)
    assert all(call[-1] <= RECOVERY_PAGE + 1 for call in ops.calls)  # read in pages
    # The client pages the rest from replayed_to over REST, then recovers from there.
    rest = [e for e in log if e.seq > to]
    assert rest[0].seq == to + 1


async def test_recovery_non_member_reported_per_channel() -> None:
    h, _ = recovering_harness([event("c1", 1), event("c2", 1)], channels=("c1",))
    d = h.send({"id": 5, "op": "subscribe", "topic": CONV, "since": {"c1": 0, "c2": 0}})
    assert d is not None
    assert h.conn.client.recovering == {"c1": [], "c2": []}
    await d.run()
    frames = await h.frames()
    assert [f.get("seq") for f in frames] == [1, None]
    assert frames[-1]["recovery"] == {
        "c1": {"recovered": True, "replayed": 1, "replayed_to": 1},
        "c2": {"error": {"code": "not_found", "message": "not a member of c2"}},
    }
    assert h.conn.client.recovering is None


async def test_recovery_conflict_while_channel_recovering() -> None:
    h, _ = recovering_harness([])
    d = h.send({"id": 1, "op": "subscribe", "topic": CONV, "since": {"c1": 0}})
    assert d is not None
    h.send_sync({"id": 2, "op": "subscribe", "topic": POSTED, "since": {"c1": 0}})
    assert await h.reply() == err(2, ErrorCode.CONFLICT, "c1 is already recovering")
    assert h.hub.subscription_count == 1
    await d.run()
    assert h.conn.client.recovering is None


@pytest.mark.parametrize(
    "since",
    [[1], "c1", {"c1": -1}, {"c1": True}, {"c1": 1.5}, {str(i): 0 for i in range(1001)}],
)
async def test_recovery_bad_since(since: object) -> None:
    h, _ = recovering_harness([])
    assert await h.error_code({"id": 7, "op": "subscribe", "topic": CONV, "since": since}) == (
        7,
        "bad_request",
    )
    assert h.hub.subscription_count == 0
    assert h.conn.client.recovering is None


async def test_recovery_keeps_live_events_of_other_subscriptions() -> None:
    edited = f"events.{ORG}.conversations.conversation.message_edited.*"
    h, _ = recovering_harness([event("c1", 1, EventName.MESSAGE_EDITED)])
    h.send_sync({"id": 1, "op": "subscribe", "topic": edited})
    d = h.send({"id": 2, "op": "subscribe", "topic": POSTED, "since": {"c1": 0}})
    assert d is not None
    # Committed after the second subscribe, before the read: matches only ``edited``.
    h.hub.publish_channel_events([event("c1", 1, EventName.MESSAGE_EDITED)])
    await d.run()
    frames = await h.frames()
    assert [(f.get("id"), f.get("seq")) for f in frames] == [(1, None), (None, 1), (2, None)]


async def test_recovery_complete_when_unmatched_live_events_skipped() -> None:
    h, ops = recovering_harness([event("c1", 1)])
    d = h.send({"id": 1, "op": "subscribe", "topic": POSTED, "since": {"c1": 0}})
    assert d is not None
    # Committed while the log was read: seq 2 does not match the pattern, seq 3 does.
    ops.during_read = lambda _: h.hub.publish_channel_events(
        [event("c1", 2, EventName.MESSAGE_EDITED), event("c1", 3)]
    )
    await d.run()
    frames = await h.frames()
    assert [f.get("seq") for f in frames] == [1, 3, None]
    assert frames[-1]["recovery"] == {"c1": {"recovered": True, "replayed": 1, "replayed_to": 1}}


async def test_removed_during_recovery_still_gets_held_events() -> None:
    h, ops = recovering_harness([])
    d = h.send({"id": 1, "op": "subscribe", "topic": CONV, "since": {"c1": 0}})
    assert d is not None
    removed = event("c1", 2, EventName.MEMBER_REMOVED, {"user_id": "alice"})
    h.hub.publish_channel_events([event("c1", 1), removed])
    ops.members.discard("c1")  # the removal committed before the log read
    await d.run()
    frames = await h.frames()
    assert [(f.get("seq"), f.get("event")) for f in frames] == [
        (1, "message_posted"),
        (2, "member_removed"),
        (None, None),
    ]


async def test_deferred_propagates_client_error_to_the_worker() -> None:
    class Refusing(RecordingOps):
        async def mark_read(self, org: str, user_id: str, channel_id: str, seq: int) -> int:
            raise ClientError(ErrorCode.NOT_FOUND, "nope")

    h = Harness(ops=Refusing())
    d = h.send({"id": 3, "op": "read", "channel": "c1", "seq": 1})
    assert d is not None
    with pytest.raises(ClientError) as info:
        await d.run()
    assert info.value.code is ErrorCode.NOT_FOUND
    assert await h.frames() == []


async def test_hello() -> None:
    h = Harness(roles=("service",), limits=Limits(max_subscriptions=5))
    frames = decode_frames(h.session.hello({"interval": 25.0, "timeout": 10.0}))
    assert len(frames) == 1
    hello = frames[0]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", hello.pop("ts")) is not None
    assert hello == {
        "type": "hello",
        "session": "s_alice",
        "user": "alice",
        "org": ORG,
        "roles": ["service"],
        "expires_at": int(EXP),
        "keepalive": {"interval": 25.0, "timeout": 10.0},
        "limits": Limits(max_subscriptions=5).as_dict(),
    }


async def test_conversation_ops_go_through_the_port() -> None:
    """react / edit / delete / reply reach ``ChannelOps.conversation_op`` with the body."""
    ops = RecordingOps()
    h = Harness(ops=ops)
    deferred = h.send({"id": 4, "op": "react", "channel": "c1", "message_id": "m", "emoji": "+1"})
    assert deferred is not None
    await deferred.run()
    reply = {"id": 4, "ok": True, "channel": "c1", "done": "react"}
    assert await h.reply() == reply
    body = {"channel": "c1", "message_id": "m", "emoji": "+1"}
    assert ops.calls == [
        ("conversation_op", "acme", "alice", "react", {"id": 4, "op": "react", **body})
    ]


async def test_resubscribe_with_since_replays_the_gap() -> None:
    """A live connection that saw seq 1 and then 4 (a gap) re-subscribes the same pattern
    with ``since``: 2..4 are replayed (4 again: the client dedupes), then live ones."""
    h, _ = recovering_harness([event("c1", s) for s in range(1, 5)])
    h.send_sync({"id": 1, "op": "subscribe", "topic": CONV})
    await h.frames()
    d = h.send({"id": 2, "op": "subscribe", "topic": CONV, "since": {"c1": 1}})
    assert d is not None
    h.hub.publish_channel_events([event("c1", 5)])  # held back during the replay
    await d.run()
    frames = await h.frames()
    assert [f.get("seq") for f in frames] == [2, 3, 4, 5, None]
    assert frames[-1] == {
        "id": 2,
        "ok": True,
        "topic": CONV,
        "recovery": {"c1": {"recovered": True, "replayed": 3, "replayed_to": 4}},
    }
    assert h.hub.subscription_count == 1


async def test_resume_all_adds_channels_joined_while_offline() -> None:
    """``resume_all``: channels absent from ``since`` (joined while offline) start at
    their current seq, with no live event lost past it; ``since`` ones replay as usual."""
    log = [event("c1", s) for s in range(1, 4)] + [event("c2", s) for s in range(1, 6)]
    h, ops = recovering_harness(log, channels=("c1", "c2"))
    d = h.send({"id": 1, "op": "subscribe", "topic": CONV, "since": {"c1": 1}, "resume_all": True})
    assert d is not None
    assert h.conn.client.recovering == {"c1": [], "c2": []}
    # Committed while the positions are read: seq 6 is past c2's position, so it follows.
    ops.during_read = lambda ch: (
        h.hub.publish_channel_events([event("c2", 6)]) if ch == "c2" else None
    )
    await d.run()
    frames = await h.frames()
    assert [(f.get("channel"), f.get("seq")) for f in frames] == [
        ("c1", 2),
        ("c1", 3),
        ("c2", 6),
        (None, None),
    ]
    assert frames[-1]["recovery"] == {
        "c1": {"recovered": True, "replayed": 2, "replayed_to": 3},
        "c2": {"recovered": True, "replayed": 0, "replayed_to": 5},
    }
    assert ("last_seqs", ORG, "alice", ["c2"]) in ops.calls
    assert h.conn.client.recovering is None


async def test_since_null_starts_at_the_current_seq_and_refuses_non_members() -> None:
    h, _ = recovering_harness([event("c1", 1), event("c1", 2)], channels=("c1",))
    d = h.send({"id": 1, "op": "subscribe", "topic": CONV, "since": {"c1": None, "zz": None}})
    assert d is not None
    await d.run()
    assert (await h.reply())["recovery"] == {
        "c1": {"recovered": True, "replayed": 0, "replayed_to": 2},
        "zz": {"error": {"code": "not_found", "message": "not a member of zz"}},
    }


async def test_recovery_over_the_channel_cap_lists_the_rest_in_more() -> None:
    """More channels than one subscribe replays: the first ``MAX_RECOVER_CHANNELS`` are
    replayed (the ``since`` ones first), the rest come back in ``more``; re-subscribing
    the same pattern with them replays those too, nothing lost or doubled."""
    channels = tuple(f"c{i:03}" for i in range(MAX_RECOVER_CHANNELS + 30))
    log = [event(ch, s) for ch in channels for s in (1, 2)]
    h, _ = recovering_harness(log, channels=channels)
    since = {"c120": 0, "c121": 1}
    d = h.send({"id": 1, "op": "subscribe", "topic": CONV, "since": since, "resume_all": True})
    assert d is not None
    await d.run()
    frames = await h.frames()
    reply = frames[-1]
    done = list(reply["recovery"])
    assert done[:2] == ["c120", "c121"] and len(done) == MAX_RECOVER_CHANNELS
    assert sorted(done + reply["more"]) == sorted(channels)
    assert [(f["channel"], f["seq"]) for f in frames[:-1]] == [
        ("c120", 1),
        ("c120", 2),
        ("c121", 2),
    ]
    # The next page: the remaining channels, with no position (null) as the client has none.
    d = h.send({"id": 2, "op": "subscribe", "topic": CONV, "since": dict.fromkeys(reply["more"])})
    assert d is not None
    await d.run()
    second = await h.reply()
    assert "more" not in second
    assert sorted(second["recovery"]) == sorted(reply["more"])
    assert {r["replayed_to"] for r in second["recovery"].values()} == {2}


async def test_resume_all_skips_channels_already_recovering() -> None:
    h, _ = recovering_harness([event("c1", 1), event("c2", 1)], channels=("c1", "c2"))
    d1 = h.send({"id": 1, "op": "subscribe", "topic": CONV, "since": {"c1": 0}})
    d2 = h.send({"id": 2, "op": "subscribe", "topic": POSTED, "resume_all": True})
    assert d1 is not None and d2 is not None
    await d1.run()
    await d2.run()
    frames = await h.frames()
    assert frames[-1]["recovery"] == {
        "c1": {"error": {"code": "conflict", "message": "c1 is already recovering"}},
        "c2": {"recovered": True, "replayed": 0, "replayed_to": 1},
    }


@pytest.mark.parametrize("value", [1, "yes", None])
async def test_resume_all_must_be_a_boolean(value: object) -> None:
    h, _ = recovering_harness([])
    cmd = {"id": 3, "op": "subscribe", "topic": CONV, "resume_all": value}
    assert await h.error_code(cmd) == (3, "bad_request")
    assert h.hub.subscription_count == 0


async def test_resume_all_without_the_channel_store_is_unavailable() -> None:
    h = Harness()
    assert await h.error_code({"id": 4, "op": "subscribe", "topic": CONV, "resume_all": True}) == (
        4,
        "unavailable",
    )
    assert h.hub.subscription_count == 0
