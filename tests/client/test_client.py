"""The Python SDK against a real `parley serve` on loopback: tokens and close codes,
resume after missed events and channels joined offline, gap fill, replies and errors,
typing and presence."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
import trio

from parley.client import (
    ChannelEvent,
    CommandError,
    ConnectionLost,
    Event,
    ReplyTimeout,
    State,
    Stopped,
    connect,
)
from parley.core.codes import CloseCode
from tests.client.conftest import FAST, Server
from tests.conftest import make_token

TOPIC = "events.acme.conversations.>"


async def until(predicate: Callable[[], bool], within: float = 20.0) -> None:
    """Poll (the client exposes no event for these test-only conditions)."""
    with trio.fail_after(within):
        for _ in range(10**6):
            if predicate():
                return
            await trio.sleep(0.02)


async def next_posted(sub: Any, n: int) -> list[ChannelEvent]:
    out: list[ChannelEvent] = []
    with trio.fail_after(20):
        async for ev in sub:
            if isinstance(ev, ChannelEvent) and ev.event == "message_posted":
                out.append(ev)
                if len(out) == n:
                    return out
    raise AssertionError(f"the subscription ended after {out}")


async def test_a_refused_token_stops_with_1008(sqlite_server: Server) -> None:
    with pytest.raises(Stopped) as exc:
        async with connect(sqlite_server.ws_url, token="not.a.jwt", backoff=FAST):
            raise AssertionError("connected")
    assert exc.value.code == CloseCode.POLICY_VIOLATION
    assert exc.value.reason == "malformed token"


async def test_an_expired_static_token_stops_with_4002(sqlite_server: Server) -> None:
    with pytest.raises(Stopped) as exc:
        async with connect(sqlite_server.ws_url, token=make_token(ttl=-5), backoff=FAST):
            raise AssertionError("connected")
    assert exc.value.code == CloseCode.TOKEN_EXPIRED


async def test_a_wrong_path_stops(sqlite_server: Server) -> None:
    url = sqlite_server.ws_url.replace("/ws", "/nope")
    with pytest.raises(Stopped, match="HTTP 404"):
        async with connect(url, token=make_token(), backoff=FAST):
            raise AssertionError("connected")


async def test_4002_fetches_a_fresh_token_and_resumes(sqlite_server: Server) -> None:
    """The first token expires on the live connection (early refresh off): the server
    closes with 4002, the client calls the token callable and resumes."""
    issued: list[float] = []

    async def token() -> str:
        issued.append(time.time())
        return make_token("bob", ttl=2 if len(issued) == 1 else 3600)

    async with (
        connect(
            sqlite_server.ws_url,
            token=make_token("alice"),
            http_url=sqlite_server.http_url,
            backoff=FAST,
        ) as alice,
        connect(sqlite_server.ws_url, token=token, backoff=FAST, refresh_margin=0) as bob,
    ):
        assert alice.rest is not None
        ch = (await alice.rest.create_channel("group", name="g", members=["bob"]))["id"]
        async with bob.subscribe(TOPIC) as sub:
            await alice.post(ch, "before")
            assert [e.data["text"] for e in await next_posted(sub, 1)] == ["before"]
            await until(lambda: bob.connections >= 2)
            await alice.post(ch, "after")
            assert [e.data["text"] for e in await next_posted(sub, 1)] == ["after"]
        assert len(issued) == 2


async def test_the_token_is_refreshed_before_it_expires(sqlite_server: Server) -> None:
    calls: list[int] = []

    def token() -> str:
        calls.append(1)
        return make_token("bob", ttl=3)

    async with connect(sqlite_server.ws_url, token=token, backoff=FAST) as bob:
        await until(lambda: len(calls) >= 3)
        assert await bob.ping()
        assert bob.connections == 1  # refreshed in place (the refresh op), no reconnect


async def test_resume_replays_what_was_missed_and_joins_channels_offline(
    server: Server,
) -> None:
    """Bob is held offline (his token callable waits) while alice posts and adds him to a
    new channel; on reconnect he gets every missed event once, in order, then the new
    channel from its current position."""
    gate = trio.Event()
    gate.set()

    async def bob_token() -> str:
        await gate.wait()
        return make_token("bob")

    async with (
        connect(
            server.ws_url, token=make_token("alice"), http_url=server.http_url, backoff=FAST
        ) as alice,
        connect(server.ws_url, token=bob_token, backoff=FAST, refresh_margin=10**6) as bob,
    ):
        assert alice.rest is not None
        a = (await alice.rest.create_channel("group", name="a", members=["bob"]))["id"]
        async with bob.subscribe(TOPIC) as sub:
            await alice.post(a, "seen")
            await next_posted(sub, 1)
            gate = trio.Event()
            await server.restart()
            await alice.wait_open()
            missed = [(await alice.post(a, f"missed {i}")).seq for i in range(30)]
            b = (await alice.rest.create_channel("group", name="b", members=["bob"]))["id"]
            await alice.post(b, "before bob is back")
            assert bob.connections == 1
            gate.set()
            got = await next_posted(sub, 30)
            assert [(e.channel, e.seq) for e in got] == [(a, s) for s in missed]
            assert bob.connections == 2
            await bob.wait_open()  # the resume's replies are in
            assert bob.positions[b] >= 1  # resume_all: b known from its current seq
            await alice.post(b, "live in b")
            await alice.post(a, "live in a")
            live = await next_posted(sub, 2)
            assert [(e.channel, e.data["text"]) for e in live] == [
                (b, "live in b"),
                (a, "live in a"),
            ]


async def test_a_gap_on_a_live_connection_is_filled(sqlite_server: Server) -> None:
    async with (
        connect(
            sqlite_server.ws_url,
            token=make_token("alice"),
            http_url=sqlite_server.http_url,
            backoff=FAST,
        ) as alice,
        connect(sqlite_server.ws_url, token=make_token("bob"), backoff=FAST) as bob,
    ):
        assert alice.rest is not None
        ch = (await alice.rest.create_channel("group", name="g", members=["bob"]))["id"]
        async with bob.subscribe(TOPIC) as sub:
            seqs = [(await alice.post(ch, f"m{i}")).seq for i in range(5)]
            assert [e.seq for e in await next_posted(sub, 5)] == seqs
            # As if the client had missed the last three: the next live event shows a
            # gap, which the client fills by re-subscribing with since.
            bob._tracker.positions[ch] = seqs[1]
            nxt = (await alice.post(ch, "next")).seq
            again = await next_posted(sub, 4)
            assert [e.seq for e in again] == [*seqs[2:], nxt]
            assert bob.connections == 1


async def test_errors_are_command_errors(sqlite_server: Server) -> None:
    async with connect(sqlite_server.ws_url, token=make_token("bob"), backoff=FAST) as bob:
        with pytest.raises(CommandError) as exc:
            await bob.post("ch_nope", "hi")
        assert exc.value.code == "not_found"
        with pytest.raises(CommandError) as exc:
            async with bob.subscribe("events.acme.billing.>"):
                raise AssertionError("subscribed")
        assert exc.value.code == "forbidden"
        with pytest.raises(CommandError, match="invalid_topic"):
            await bob.publish("bad topic", {})
        with pytest.raises(CommandError, match="invalid_topic"):
            bob.subscribe("events.acme.>.x")
        assert await bob.publish("events.acme.client.x", {"n": 1}) == 0


async def test_offline_posts_time_out_and_are_never_sent(sqlite_server: Server) -> None:
    async with connect(
        sqlite_server.ws_url,
        token=make_token("alice"),
        http_url=sqlite_server.http_url,
        backoff=FAST,
        reply_timeout=0.5,
    ) as alice:
        assert alice.rest is not None
        ch = (await alice.rest.create_channel("group", name="g", members=[]))["id"]
        await sqlite_server.stop()
        await until(lambda: alice.state is not State.OPEN)
        with pytest.raises(ReplyTimeout):
            await alice.post(ch, "never")
        with pytest.raises(ConnectionLost):
            await alice.typing(ch)  # not queued
        await sqlite_server.start()
        alice.reply_timeout = 20
        await alice.wait_open()
        await alice.post(ch, "after")
        assert [m["text"] async for m in alice.rest.history(ch)] == ["after"]


async def test_typing_and_presence_helpers(sqlite_server: Server) -> None:
    async with (
        connect(
            sqlite_server.ws_url,
            token=make_token("alice"),
            http_url=sqlite_server.http_url,
            backoff=FAST,
        ) as alice,
        connect(sqlite_server.ws_url, token=make_token("bob"), backoff=FAST) as bob,
    ):
        assert alice.rest is not None
        ch = (await alice.rest.create_channel("group", name="g", members=["bob"]))["id"]
        async with bob.subscribe(TOPIC) as sub, bob.presence() as updates:
            assert await alice.typing(ch) is True
            with trio.fail_after(20):
                async for ev in sub:
                    if isinstance(ev, Event) and ev.event == "typing":
                        assert (ev.channel, ev.data["user_id"]) == (ch, "alice")
                        break
            assert await alice.set_presence("away") == "away"
            with trio.fail_after(20):
                async for update in updates:
                    if any(u.user_id == "alice" and u.status == "away" for u in update.users):
                        break
