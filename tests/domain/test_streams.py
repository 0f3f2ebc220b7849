"""The stream registry, sans-IO: indexes, bounds, expiry (the clock is an argument)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from parley.core.claims import Claims
from parley.core.codes import ErrorCode
from parley.core.errors import ClientError
from parley.domain.services import Services
from parley.domain.streams import StreamRegistry, StreamService, StreamState
from parley.store import Store
from tests.support.api import RecordingSink, make_services


def code(exc: pytest.ExceptionInfo[ClientError]) -> ErrorCode:
    return exc.value.code


def test_indexes_grow_by_one_per_event() -> None:
    reg = StreamRegistry()
    s = reg.open("acme", "ch", "bot", now=0.0)
    events = [reg.append(s, c, None, now=1.0) for c in ["a", "b"]]
    assert [e["index"] for e in events if e] == [1, 2]
    assert reg.begin_complete(s, now=2.0) == "ab"
    done = reg.finish_complete(s, "msg_1", 7, "2026-01-01T00:00:00.000000Z", now=2.0)
    assert done is not None
    assert (done["index"], done["state"], done["seq"]) == (3, "completed", 7)
    assert s.snapshot()["index"] == 3
    assert reg.begin_complete(s, now=3.0) is None  # already done: a retry


def test_text_is_capped() -> None:
    reg = StreamRegistry(max_bytes=4)
    s = reg.open("acme", "ch", "bot", now=0.0)
    reg.append(s, "abc", None, now=0.0)
    with pytest.raises(ClientError) as exc:
        reg.append(s, "de", None, now=0.0)
    assert code(exc) is ErrorCode.PAYLOAD_TOO_LARGE
    assert s.text == "abc"


def test_unfinished_streams_per_author_are_bounded() -> None:
    reg = StreamRegistry(max_open_per_author=2)
    a = reg.open("acme", "ch", "bot", now=0.0)
    reg.open("acme", "ch", "bot", now=0.0)
    with pytest.raises(ClientError) as exc:
        reg.open("acme", "ch", "bot", now=0.0)
    assert code(exc) is ErrorCode.RATE_LIMITED
    reg.open("other", "ch", "bot", now=0.0)  # another org's bot is another author
    reg.cancel(a, now=0.0)
    reg.open("acme", "ch", "bot", now=0.0)  # a finished one frees a slot


def test_total_is_bounded_and_tombstones_make_room() -> None:
    reg = StreamRegistry(max_streams=2)
    a = reg.open("acme", "ch", "u1", now=0.0)
    reg.open("acme", "ch", "u2", now=0.0)
    with pytest.raises(ClientError) as exc:
        reg.open("acme", "ch", "u3", now=0.0)
    assert code(exc) is ErrorCode.UNAVAILABLE
    reg.cancel(a, now=0.0)
    reg.open("acme", "ch", "u3", now=0.0)
    assert len(reg) == 2
    with pytest.raises(ClientError):
        reg.get("acme", "ch", a.id)


def test_idle_streams_expire_and_open_ones_say_so() -> None:
    reg = StreamRegistry(idle_timeout=10.0)
    old = reg.open("acme", "ch", "u1", now=0.0)
    done = reg.open("acme", "ch", "u2", now=0.0)
    reg.cancel(done, now=1.0)
    busy = reg.open("acme", "ch", "u3", now=0.0)
    reg.append(busy, "x", None, now=5.0)
    assert reg.expire(now=9.9) == []
    expired = reg.expire(now=10.0)
    assert [(s.id, e["state"], e["reason"], e["index"]) for s, e in expired] == [
        (old.id, "cancelled", "expired", 1)
    ]
    assert old.state is StreamState.CANCELLED
    assert reg.expire(now=11.0) == []  # the cancelled one goes silently
    assert len(reg) == 1
    assert [s.id for s, _ in reg.expire(now=15.0)] == [busy.id]
    assert len(reg) == 0
    reg.open("acme", "ch", "u1", now=15.0)  # the author's slot was freed


def test_a_completing_stream_does_not_expire() -> None:
    reg = StreamRegistry(idle_timeout=10.0)
    s = reg.open("acme", "ch", "u", now=0.0)
    reg.append(s, "x", None, now=0.0)
    reg.begin_complete(s, now=0.0)
    assert reg.expire(now=50.0) == []
    assert reg.finish_complete(s, "m", 1, "t", now=50.0) is not None


def test_failed_persist_reopens() -> None:
    reg = StreamRegistry()
    s = reg.open("acme", "ch", "u", now=0.0)
    reg.append(s, "x", None, now=0.0)
    reg.begin_complete(s, now=0.0)
    with pytest.raises(ClientError) as exc:
        reg.append(s, "y", None, now=0.0)
    assert code(exc) is ErrorCode.CONFLICT
    reg.abort_complete(s)
    assert reg.append(s, "y", None, now=0.0) is not None
    assert s.text == "xy"


BOT = Claims(sub="bot", org="acme", exp=2e9, roles=("service",))


async def make_channel(chat: Services) -> str:
    channel = await chat.channels.create_channel(
        "acme", "alice", kind="group", name="g", members=["bob"]
    )
    return channel.id


async def test_idle_streams_expire_lazily_with_a_push(store: Store, sink: RecordingSink) -> None:
    now = [0.0]
    chat = make_services(store, sink)
    registry = StreamRegistry(idle_timeout=30.0)
    streams = StreamService(
        store, sink, chat.messages.poster, registry=registry, clock=lambda: now[0]
    )
    chat = replace(chat, streams=streams)
    cid = await make_channel(chat)
    opened = await chat.streams.open_stream(BOT, cid)
    now[0] = 29.0
    await chat.streams.get_stream(BOT, cid, opened["stream_id"])  # reading does not keep it alive
    now[0] = 30.0  # no background task: nothing happens until the next call
    assert [p["state"] for p in sink.pushed("message_stream")] == ["open"]
    other = await chat.streams.open_stream(BOT, cid)
    pushes = sink.pushed("message_stream")
    assert [(p["stream_id"], p["state"], p["index"]) for p in pushes] == [
        (opened["stream_id"], "open", 0),
        (opened["stream_id"], "cancelled", 1),
        (other["stream_id"], "open", 0),
    ]
    assert pushes[1]["reason"] == "expired"
    with pytest.raises(ClientError) as exc:
        await chat.streams.get_stream(BOT, cid, opened["stream_id"])
    assert exc.value.code is ErrorCode.NOT_FOUND
