"""Connection lifecycle on virtual time with in-memory streams (no sockets, no sleeps)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any

import pytest
import trio
import trio.testing
from wsproto.events import CloseConnection, Ping, Pong, TextMessage
from wsproto.frame_protocol import FrameProtocol

from parley.broker.connection import Connection
from parley.broker.hub import Hub
from parley.broker.lifecycle import CLOSE_TIMEOUT, ConnState
from parley.broker.server import BrokerServer
from parley.broker.session import Session
from parley.core.codes import CloseCode, ErrorCode
from parley.core.errors import ClientError, Unavailable
from parley.core.limits import Limits
from parley.core.ports import ChannelOps
from parley.core.records import Draft
from parley.settings import Settings
from tests.conftest import make_token
from tests.support.broker import post_each
from tests.support.wsclient import Closed, MemClient

WALL0 = 2_000_000_000.0


class Harness:
    def __init__(
        self, settings: Settings, nursery: trio.Nursery, ops: ChannelOps | None = None
    ) -> None:
        t0 = trio.current_time()
        self.hub = Hub()
        self.server = BrokerServer(
            settings.broker,
            self.hub,
            settings.token_verifier(),
            ops=ops,
            wall_clock=lambda: WALL0 + trio.current_time() - t0,
        )
        self.nursery = nursery

    async def connect(
        self,
        token: str | None = None,
        *,
        lockstep: bool = False,
        auto_pong: bool = True,
        target: str | None = None,
        headers: list[tuple[bytes, bytes]] | None = None,
        hello: bool = True,
        pipelined: bytes = b"",
    ) -> MemClient:
        pair = trio.testing.lockstep_stream_pair if lockstep else trio.testing.memory_stream_pair
        client_stream, server_stream = pair()
        self.nursery.start_soon(self.server.handle, server_stream)
        client = MemClient(client_stream, auto_pong=auto_pong)
        tok = token if token is not None else make_token(now=WALL0)
        await client.handshake(target or f"/ws?access_token={tok}", headers, pipelined=pipelined)
        if hello:
            msg = await client.recv()
            assert msg["type"] == "hello"
        return client


@asynccontextmanager
async def harness(settings: Settings, ops: ChannelOps | None = None) -> AsyncIterator[Harness]:
    async with trio.open_nursery() as nursery:
        yield Harness(settings, nursery, ops)
        nursery.cancel_scope.cancel()


def with_limits(settings: Settings, **kw: Any) -> Settings:
    return replace(settings, limits=replace(Limits(), **kw))


async def test_keepalive_closes_silent_peer(settings: Settings, autojump_clock: Any) -> None:
    async with harness(settings) as h:
        t0 = trio.current_time()
        c = await h.connect(auto_pong=False)
        closed = await c.expect_close()
        assert closed.code == CloseCode.PONG_TIMEOUT
        assert c.pings == 1
        assert trio.current_time() - t0 == pytest.approx(
            settings.ping_interval + settings.ping_timeout
        )


async def test_keepalive_keeps_answering_peer(settings: Settings, autojump_clock: Any) -> None:
    async with harness(settings) as h:
        c = await h.connect(auto_pong=True)
        with trio.move_on_after(8 * settings.ping_interval + 1):
            await c.recv()
        assert c.pings == 8
        assert len(h.server.connections) == 1


async def next_ping(c: MemClient) -> Ping:
    """Read until the server's next ping (without answering it); other events are dropped."""
    while True:
        while c._pending:
            event = c._pending.pop(0)
            if isinstance(event, Ping):
                return event
        c._pending = await c._events()


async def test_keepalive_next_ping_counts_from_the_pong(
    settings: Settings, autojump_clock: Any
) -> None:
    """The keepalive runs in the reader: one ping per interval, measured from the pong."""
    interval, timeout = settings.ping_interval, settings.ping_timeout
    async with harness(settings) as h:
        t0 = trio.current_time()
        c = await h.connect(auto_pong=False)
        first = await next_ping(c)
        assert trio.current_time() - t0 == pytest.approx(interval)
        await trio.sleep(timeout / 2)
        await c.stream.send_all(c.ws.send(first.response()))
        second = await next_ping(c)
        assert trio.current_time() - t0 == pytest.approx(2 * interval + timeout / 2)
        assert second.payload != first.payload


async def test_keepalive_ignores_a_pong_for_another_ping(
    settings: Settings, autojump_clock: Any
) -> None:
    async with harness(settings) as h:
        t0 = trio.current_time()
        c = await h.connect(auto_pong=False)
        await next_ping(c)
        await c.stream.send_all(c.ws.send(Pong(b"nope")))
        closed = await c.expect_close()
        assert closed.code == CloseCode.PONG_TIMEOUT
        assert trio.current_time() - t0 == pytest.approx(
            settings.ping_interval + settings.ping_timeout
        )


async def test_expiry_between_answered_pings(settings: Settings, autojump_clock: Any) -> None:
    """Expiry and keepalive share the reader's timer: pings at 25, 50, 75, then 4002 at 90."""
    settings = replace(settings, ping_interval=25.0, ping_timeout=10.0)
    async with harness(settings) as h:
        t0 = trio.current_time()
        c = await h.connect(make_token(ttl=90, now=WALL0), auto_pong=True)
        closed = await c.expect_close()
        assert closed.code == CloseCode.TOKEN_EXPIRED
        assert trio.current_time() - t0 == pytest.approx(90)
        assert c.pings == 3


async def test_token_expiry_closes_with_refresh_code(
    settings: Settings, autojump_clock: Any
) -> None:
    async with harness(settings) as h:
        t0 = trio.current_time()
        c = await h.connect(make_token(ttl=100, now=WALL0))
        closed = await c.expect_close()
        assert closed.code == CloseCode.TOKEN_EXPIRED
        assert trio.current_time() - t0 == pytest.approx(100)


async def test_refresh_extends_the_connection(settings: Settings, autojump_clock: Any) -> None:
    settings = replace(settings, ping_interval=1000.0)  # the client sleeps instead of reading
    async with harness(settings) as h:
        t0 = trio.current_time()
        c = await h.connect(make_token(ttl=100, now=WALL0))
        await trio.sleep(50)
        reply = await c.call(
            {"id": 1, "op": "refresh", "token": make_token(ttl=250, now=WALL0 + 50)}
        )
        assert reply == {"id": 1, "ok": True, "expires_at": int(WALL0 + 300)}
        closed = await c.expect_close()
        assert closed.code == CloseCode.TOKEN_EXPIRED
        assert trio.current_time() - t0 == pytest.approx(300)


async def test_slow_consumer_dropped_others_continue(
    settings: Settings, autojump_clock: Any
) -> None:
    settings = with_limits(settings, outbox_max_frames=8)
    async with harness(settings) as h:
        slow = await h.connect(make_token("slow", now=WALL0), lockstep=True)
        fast = await h.connect(make_token("fast", now=WALL0))
        for c in (slow, fast):
            assert (await c.call({"id": 1, "op": "subscribe", "topic": "events.acme.>"}))["ok"]
        for i in range(100):
            h.hub.publish("events.acme.client.r.e.1", {"i": i})
            msg = await fast.recv()
            assert msg["data"] == {"i": i}
        received = []
        with pytest.raises(Closed) as exc:
            while True:
                received.append((await slow.recv())["data"]["i"])
        assert exc.value.code == CloseCode.SLOW_CONSUMER
        assert received == list(range(len(received)))
        assert len(received) < 100
        h.hub.publish("events.acme.client.r.e.1", {"i": 100})
        assert (await fast.recv())["data"] == {"i": 100}


async def test_slow_consumer_gets_its_close_frame_before_the_data_it_could_not_take(
    settings: Settings, autojump_clock: Any
) -> None:
    """A reader taking a message per 0.1 s: the close (4000) comes after at most one write
    chunk, within the close deadline, instead of after everything the writer held (which
    took longer than the deadline, so the client saw EOF, 1006)."""
    settings = with_limits(settings, outbox_max_frames=128)
    async with harness(settings) as h:
        slow = await h.connect(make_token("slow", now=WALL0), lockstep=True)
        assert (await slow.call({"id": 1, "op": "subscribe", "topic": "events.acme.>"}))["ok"]
        pad = "x" * 16_000
        for i in range(100):  # the writer takes these while the client does not read
            h.hub.publish("events.acme.client.r.e.1", {"i": i, "pad": pad})
        await trio.testing.wait_all_tasks_blocked()
        for i in range(100, 300):  # overflow: the connection is closed as a slow consumer
            h.hub.publish("events.acme.client.r.e.1", {"i": i, "pad": pad})
        received = []
        with pytest.raises(Closed) as exc:
            while True:
                received.append((await slow.recv())["data"]["i"])
                await trio.sleep(0.1)
        assert exc.value.code == CloseCode.SLOW_CONSUMER
        assert received == list(range(len(received))) and len(received) < 10


async def test_shutdown_closes_everyone_with_1001(settings: Settings, autojump_clock: Any) -> None:
    async with harness(settings) as h:
        clients = [await h.connect(make_token(f"u{i}", now=WALL0)) for i in range(3)]
        dead = await h.connect(make_token("dead", now=WALL0), lockstep=True)
        t0 = trio.current_time()
        async with trio.open_nursery() as n:
            n.start_soon(h.server.drain)
            for c in clients:
                assert (await c.expect_close()).code == CloseCode.GOING_AWAY
        # The dead peer never answers: its close handshake times out and drain returns.
        assert not h.server.connections
        assert trio.current_time() - t0 <= settings.shutdown_timeout
        del dead


def state_of(conn: Connection) -> ConnState:
    return conn.lifecycle.state


async def test_close_deadline_drops_a_peer_that_stops_reading(
    settings: Settings, autojump_clock: Any
) -> None:
    """We close; the peer never reads our close frame: dropped CLOSE_TIMEOUT later."""
    async with harness(settings) as h:
        await h.connect(lockstep=True)
        (conn,) = h.server.connections
        assert state_of(conn) is ConnState.OPEN
        t0 = trio.current_time()
        await h.server.drain()
        assert trio.current_time() - t0 == pytest.approx(CLOSE_TIMEOUT)
        assert not h.server.connections
        assert state_of(conn) is ConnState.CLOSED
        assert conn.lifecycle.close_code == CloseCode.GOING_AWAY


async def test_peer_started_close_is_bounded_by_the_close_deadline(
    settings: Settings, autojump_clock: Any
) -> None:
    """The peer closes and then never reads our answer: dropped CLOSE_TIMEOUT later."""
    async with harness(settings) as h:
        c = await h.connect(lockstep=True)
        (conn,) = h.server.connections
        await c.stream.send_all(c.ws.send(CloseConnection(CloseCode.NORMAL)))
        t0 = trio.current_time()
        await trio.testing.wait_all_tasks_blocked()
        assert state_of(conn) is ConnState.CLOSING
        assert conn.lifecycle.close_code is None  # the close is the peer's
        await h.server.drain()  # starts nothing: the connection is already closing
        assert trio.current_time() - t0 == pytest.approx(CLOSE_TIMEOUT)
        assert not h.server.connections


class StuckLoadOps:
    """Channel ops whose user load never returns."""

    async def user_channel_ids(self, org: str, user_id: str) -> set[str]:
        await trio.sleep_forever()
        raise AssertionError("unreachable")

    async def user_channel_sets(
        self, users: Sequence[tuple[str, str]]
    ) -> dict[tuple[str, str], set[str]]:
        await trio.sleep_forever()
        raise AssertionError("unreachable")


async def test_close_during_the_user_load_is_bounded(
    settings: Settings, autojump_clock: Any
) -> None:
    async with harness(settings, StuckLoadOps()) as h:  # type: ignore[arg-type]
        c = await h.connect(hello=False)
        await trio.testing.wait_all_tasks_blocked()
        (conn,) = h.server.connections
        t0 = trio.current_time()
        await h.server.drain()
        assert trio.current_time() - t0 == pytest.approx(CLOSE_TIMEOUT)
        assert not h.server.connections
        assert conn.lifecycle.close_code == CloseCode.GOING_AWAY
        assert await c.stream.receive_some(65536) == b""  # no hello; the transport is gone


async def test_handler_crash_closes_1011_and_server_survives(
    settings: Settings, autojump_clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = Session.handle_text

    def crashing(self: Session, text: str, now: float) -> Any:
        if "crash" in text:
            raise RuntimeError("boom")
        return original(self, text, now)

    monkeypatch.setattr(Session, "handle_text", crashing)
    async with harness(settings) as h:
        a = await h.connect()
        await a.send_json({"id": 1, "op": "ping", "x": "crash"})
        assert (await a.expect_close()).code == CloseCode.INTERNAL_ERROR
        b = await h.connect(make_token("bob", now=WALL0))
        assert (await b.call({"id": 2, "op": "ping"}))["ok"] is True


async def test_too_many_bad_frames_closes_1008(settings: Settings, autojump_clock: Any) -> None:
    async with harness(settings) as h:
        c = await h.connect()
        for i in range(settings.limits.max_bad_frames):
            await c.send_text("{not json" if i % 2 else '{"id": 1, "op": "nope"}')
        codes = []
        with pytest.raises(Closed) as exc:
            while True:
                codes.append((await c.recv())["error"]["code"])
        assert codes == ["unknown_op", "bad_json"] * (settings.limits.max_bad_frames // 2)
        assert exc.value.code == CloseCode.POLICY_VIOLATION
        assert exc.value.reason == "too many bad frames"


@pytest.mark.parametrize(
    ("send", "code"),
    [
        (lambda c: c.send_bytes(b"\x01\x02"), CloseCode.UNSUPPORTED_DATA),
        (lambda c: c.send_text("x" * 70_000), CloseCode.MESSAGE_TOO_BIG),
        (lambda c: c.send_text("é" * 40_000), CloseCode.MESSAGE_TOO_BIG),
    ],
)
async def test_frame_rules(
    settings: Settings, autojump_clock: Any, send: Callable[[MemClient], Any], code: CloseCode
) -> None:
    async with harness(settings) as h:
        c = await h.connect()
        await send(c)
        assert (await c.expect_close()).code == code


@pytest.mark.parametrize("declared", [1 << 62, 65_537])
async def test_oversize_frame_header_closes_1009_before_its_payload(
    settings: Settings, autojump_clock: Any, declared: int
) -> None:
    async with harness(settings) as h:
        c = await h.connect()
        t0 = trio.current_time()
        # FIN + text, masked, 64-bit length, masking key; the payload never comes.
        await c.stream.send_all(b"\x81\xff" + declared.to_bytes(8, "big") + b"\0\0\0\0")
        closed = await c.expect_close()
        assert (closed.code, closed.reason) == (
            CloseCode.MESSAGE_TOO_BIG,
            f"message over {settings.limits.max_frame_bytes} bytes",
        )
        assert trio.current_time() == t0  # at once, not at a deadline


async def test_frames_pipelined_behind_the_upgrade_request_are_handled(
    settings: Settings, autojump_clock: Any
) -> None:
    """wsproto's server handshake drops the bytes after the request; they are kept."""
    ping = FrameProtocol(client=True, extensions=[]).send_data('{"id": 5, "op": "ping"}', True)
    async with harness(settings) as h:
        c = await h.connect(pipelined=bytes(ping))
        reply = await c.recv()
        assert (reply["id"], reply["ok"]) == (5, True)


async def test_fragment_header_over_the_rest_of_the_budget_closes_1009(
    settings: Settings, autojump_clock: Any
) -> None:
    async with harness(settings) as h:
        c = await h.connect()
        await c.stream.send_all(c.ws.send(TextMessage("x" * 40_000, message_finished=False)))
        # A continuation frame header claiming 30,000 more bytes: 70,000 > 65,536.
        await c.stream.send_all(b"\x80\xfe" + (30_000).to_bytes(2, "big") + b"\0\0\0\0")
        assert (await c.expect_close()).code == CloseCode.MESSAGE_TOO_BIG


async def test_connections_per_user_limit(settings: Settings, autojump_clock: Any) -> None:
    settings = with_limits(settings, max_connections_per_user=2)
    async with harness(settings) as h:
        await h.connect()
        await h.connect()
        third = await h.connect(hello=False)
        assert (await third.expect_close()).code == CloseCode.CONNECTION_LIMIT
        other = await h.connect(make_token("bob", now=WALL0))
        assert (await other.call({"id": 1, "op": "ping"}))["ok"] is True


async def test_unknown_path_rejected_404(settings: Settings, autojump_clock: Any) -> None:
    async with harness(settings) as h:
        with pytest.raises(Closed) as exc:
            await h.connect(target="/nope")
        assert exc.value.code == 404


async def test_bad_origin_closes_1008(settings: Settings, autojump_clock: Any) -> None:
    settings = replace(settings, allowed_origins=("https://app.example",))
    async with harness(settings) as h:
        bad = await h.connect(headers=[(b"Origin", b"https://evil.example")], hello=False)
        closed = await bad.expect_close()
        assert (closed.code, closed.reason) == (
            CloseCode.POLICY_VIOLATION,
            "origin not allowed: https://evil.example",
        )
        ok = await h.connect(headers=[(b"Origin", b"https://app.example")])
        assert (await ok.call({"id": 1, "op": "ping"}))["ok"] is True


class GatedOps:
    """Channel ops whose ``post`` waits until released (to fill the op queue)."""

    def __init__(self) -> None:
        self.release = trio.Event()
        self.started = 0

    async def user_channel_ids(self, org: str, user_id: str) -> set[str]:
        return set()

    async def user_channel_sets(
        self, users: Sequence[tuple[str, str]]
    ) -> dict[tuple[str, str], set[str]]:
        return {key: await self.user_channel_ids(*key) for key in users}

    async def last_seqs(self, org: str, user_id: str, channel_ids: Sequence[str]) -> dict[str, int]:
        return {}

    async def post(
        self, org: str, user_id: str, channel_id: str, text: str, idempotency_key: str | None
    ) -> dict[str, Any]:
        self.started += 1
        await self.release.wait()
        return {"channel": channel_id, "text": text}

    async def post_many(self, drafts: Sequence[Draft]) -> list[dict[str, Any] | Exception]:
        """As the domain's: each in turn through :meth:`post`."""
        return await post_each(self, drafts)

    async def mark_read(self, org: str, user_id: str, channel_id: str, seq: int) -> int:
        raise AssertionError("not used")

    async def events_after(
        self, org: str, user_id: str, channel_id: str, after_seq: int, limit: int
    ) -> list[Any]:
        raise AssertionError("not used")

    async def conversation_op(
        self, org: str, user_id: str, op: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        raise AssertionError("not used")


async def test_store_ops_queue_is_bounded_and_runs_in_order(
    settings: Settings, autojump_clock: Any
) -> None:
    """The op worker starts at the first store-bound op; one runs, ``max_in_flight`` wait,
    the next is refused at once; the reader keeps answering meanwhile."""
    settings = with_limits(settings, max_in_flight=2)
    ops = GatedOps()
    async with harness(settings, ops) as h:
        c = await h.connect()
        for i in range(1, 5):
            await c.send_json({"id": i, "op": "post", "channel": "c1", "text": f"m{i}"})
            await trio.sleep(1)
        assert ops.started == 1
        refused = await c.recv()
        assert (refused["id"], refused["error"]["code"]) == (4, "too_many_in_flight")
        assert (await c.call({"id": 5, "op": "ping"}))["ok"] is True
        ops.release.set()
        replies = [await c.recv() for _ in range(3)]
        assert [(r["id"], r["text"]) for r in replies] == [(1, "m1"), (2, "m2"), (3, "m3")]


class GroupedOps(GatedOps):
    """Gated ops that record how posts were grouped (one list per ``post_many`` call)."""

    def __init__(self) -> None:
        super().__init__()
        self.groups: list[list[str]] = []

    async def post_many(self, drafts: Sequence[Draft]) -> list[dict[str, Any] | Exception]:
        self.groups.append([d.text for d in drafts])
        await trio.lowlevel.checkpoint()
        return [
            ClientError(ErrorCode.NOT_FOUND, "no such channel")
            if d.channel_id == "nope"
            else {"channel": d.channel_id, "text": d.text}
            for d in drafts
        ]

    async def mark_read(self, org: str, user_id: str, channel_id: str, seq: int) -> int:
        return seq


async def test_posts_queued_back_to_back_run_as_one_group_answered_in_order(
    settings: Settings, autojump_clock: Any
) -> None:
    """While one post runs, the posts queued behind it wait; the next ones queued back to
    back go to the store together (one ``post_many``), up to the next other op, which runs
    after them; every reply comes in the order sent, a refusal in its place."""
    ops = GroupedOps()
    async with harness(settings, ops) as h:
        c = await h.connect()
        await c.send_json({"id": 1, "op": "post", "channel": "c1", "text": "m1"})
        await trio.sleep(1)
        assert ops.started == 1  # m1 runs alone (gated)
        for i, channel in ((2, "c1"), (3, "nope"), (4, "c2")):
            await c.send_json({"id": i, "op": "post", "channel": channel, "text": f"m{i}"})
        await c.send_json({"id": 5, "op": "read", "channel": "c1", "seq": 3})
        await c.send_json({"id": 6, "op": "post", "channel": "c1", "text": "m6"})
        await trio.sleep(1)
        ops.release.set()
        replies = [await c.recv() for _ in range(6)]
        assert [r["id"] for r in replies] == [1, 2, 3, 4, 5, 6]
        assert [r["ok"] for r in replies] == [True, True, False, True, True, True]
        assert replies[2]["error"] == {"code": "not_found", "message": "no such channel"}
        assert ops.groups == [["m2", "m3", "m4"]]  # m6 came alone after the read: post()
        assert ops.started == 2


async def test_idle_socket_connection_holds_no_writer_task(settings: Settings) -> None:
    """Over a real socket (the flusher's direct path) the writer task runs only while there
    is something it must send: none while idle; started again for the close frame. Real
    clock, loopback; nothing here waits for time to pass."""
    server = BrokerServer(settings.broker, Hub(), settings.token_verifier())
    async with trio.open_nursery() as nursery:
        port = await nursery.start(server.serve)
        async with await trio.open_tcp_stream("127.0.0.1", port) as stream:
            c = MemClient(stream)
            await c.handshake(f"/ws?access_token={make_token()}")
            assert (await c.recv())["type"] == "hello"
            assert (await c.call({"id": 1, "op": "ping"}))["ok"] is True
            await trio.testing.wait_all_tasks_blocked()
            (conn,) = server.connections
            assert conn._tasks is not None
            assert conn._tasks.child_tasks == frozenset()  # no writer, no op worker
            server.shutdown()
            assert (await c.expect_close()).code == CloseCode.GOING_AWAY
    assert server.stopped.is_set()


class DownOps(GatedOps):
    """Channel ops whose store is down (an outage, not a bug)."""

    def __init__(self, *, on_connect: bool) -> None:
        super().__init__()
        self.on_connect = on_connect

    async def user_channel_ids(self, org: str, user_id: str) -> set[str]:
        if self.on_connect:
            raise Unavailable("database unavailable")
        return set()

    async def post(
        self, org: str, user_id: str, channel_id: str, text: str, idempotency_key: str | None
    ) -> dict[str, Any]:
        raise Unavailable("database unavailable", retry_after=7)


async def test_an_outage_at_connect_closes_1013(settings: Settings, autojump_clock: Any) -> None:
    """The user's channels cannot be loaded: close 1013 (try again later), no hello."""
    async with harness(settings, DownOps(on_connect=True)) as h:
        c = await h.connect(hello=False)
        closed = await c.expect_close()
        assert (closed.code, closed.reason) == (
            CloseCode.TRY_AGAIN_LATER,
            "store unavailable, retry later",
        )


async def test_an_outage_during_an_op_is_an_unavailable_reply(
    settings: Settings, autojump_clock: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Not ``internal`` and no traceback: the connection stays open and says when to retry."""
    async with harness(settings, DownOps(on_connect=False)) as h:
        c = await h.connect()
        reply = await c.call({"id": 1, "op": "post", "channel": "c1", "text": "hi"})
        assert reply["error"] == {"code": "unavailable", "message": "unavailable, retry in 7 s"}
        assert (await c.call({"id": 2, "op": "ping"}))["ok"] is True
    assert "Traceback" not in caplog.text and "op 1 failed" not in caplog.text
