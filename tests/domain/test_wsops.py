"""The channel services as the broker sees them (ChannelOps), on a real SQLite store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest
import trio

from parley.core.claims import Claims
from parley.core.codes import ErrorCode
from parley.core.errors import ClientError
from parley.core.limits import Limits
from parley.core.ports import ChannelOps
from parley.core.records import PostResult
from parley.domain.services import Services
from parley.domain.wsops import WebSocketOps
from parley.store import Store, sql
from tests.support.api import RecordingSink, make_services, make_settings, open_test_store

BOT = Claims(sub="bot", org="acme", exp=2e9, roles=("service",))


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    async with open_test_store(tmp_path) as s:
        yield s


@pytest.fixture
def sink() -> RecordingSink:
    return RecordingSink()


@pytest.fixture
def chat(store: Store, sink: RecordingSink) -> Services:
    # Recovery asks for one event more than it replays: a limit of 3 in the domain.
    settings = replace(make_settings(), limits=Limits(recovery_max_events=2))
    return make_services(store, sink, settings)


async def test_websocket_ops_are_channel_ops(
    store: Store, sink: RecordingSink, chat: Services
) -> None:
    ops: ChannelOps = WebSocketOps(chat)
    channel_id = await make_channel(chat)
    assert await ops.user_channel_ids("acme", "bob") == {channel_id}


async def make_channel(chat: Services) -> str:
    channel = await chat.channels.create_channel(
        "acme", "alice", kind="group", name="g", members=["bob"]
    )
    return channel.id


async def test_post_reply_and_channel_ids(chat: Services) -> None:
    cid = await make_channel(chat)
    assert await chat.channels.user_channel_ids("acme", "bob") == {cid}
    assert await chat.channels.user_channel_ids("other", "bob") == set()
    reply = await WebSocketOps(chat).post("acme", "bob", cid, "hi", "k")
    assert set(reply) == {"message_id", "seq", "ts", "channel", "created"}
    assert reply["created"] is True and reply["ts"].endswith("Z")
    again = await WebSocketOps(chat).post("acme", "bob", cid, "hi", "k")
    assert again == {**reply, "created": False}
    with pytest.raises(ClientError) as exc:
        await WebSocketOps(chat).post("acme", "mallory", cid, "hi", None)
    assert exc.value.code is ErrorCode.NOT_FOUND


async def test_post_checks_access_in_the_write(chat: Services, store: Store) -> None:
    """No channel, another org, a non-member and a NUL id all read as the same 404; a
    member of a broadcast channel gets 403; refusals write nothing and run no hook."""
    cid = await make_channel(chat)
    news = await chat.channels.create_channel(
        "acme", "alice", kind="broadcast", name="n", members=["bob"]
    )
    seen: list[int] = []

    async def hook(result: PostResult) -> None:
        seen.append(result.message.seq)

    chat.messages.poster.hooks.add(hook)
    answers = set()
    for org, user, channel in (
        ("acme", "mallory", cid),
        ("other", "bob", cid),
        ("acme", "bob", "ch_nope"),
        ("acme", "bob", "ch\x00"),
    ):
        for key in (None, "k"):
            with pytest.raises(ClientError) as exc:
                await chat.messages.post_message(org, user, channel, "hi", key)
            answers.add((exc.value.code, exc.value.message))
    assert answers == {(ErrorCode.NOT_FOUND, "no such channel")}
    with pytest.raises(ClientError) as exc:
        await chat.messages.post_message("acme", "bob", news.id, "me too", "k")
    assert exc.value.code is ErrorCode.FORBIDDEN
    assert seen == []
    assert await store.read(sql.messages.list_messages, "acme", cid) == []
    assert await store.read(sql.messages.list_messages, "acme", news.id) == []
    posted = await chat.messages.post_message("acme", "alice", news.id, "news", "k")
    again = await chat.messages.post_message("acme", "alice", news.id, "news", "k")
    assert posted.created and not again.created and again.message == posted.message
    assert seen == [posted.message.seq, posted.message.seq]  # hooks see repeats too


async def test_events_after_is_for_members_and_capped(chat: Services) -> None:
    cid = await make_channel(chat)
    for i in range(4):
        await WebSocketOps(chat).post("acme", "alice", cid, f"m{i}", None)
    events = await chat.channels.events_after("acme", "bob", cid, 0, 100)
    assert [e.seq for e in events] == [1, 2, 3]  # recovery_limit=3
    events = await chat.channels.events_after("acme", "bob", cid, 3, 100)
    assert [e.seq for e in events] == [4, 5, 6]
    for org, user in [("acme", "mallory"), ("other", "bob")]:
        with pytest.raises(ClientError) as exc:
            await chat.channels.events_after(org, user, cid, 0, 10)
        assert exc.value.code is ErrorCode.NOT_FOUND
    with pytest.raises(ClientError):
        await chat.channels.events_after("acme", "bob", cid, -1, 10)


async def test_mark_read_pushes_only_when_it_moves(chat: Services, sink: RecordingSink) -> None:
    cid = await make_channel(chat)
    reply = await WebSocketOps(chat).post("acme", "alice", cid, "x", None)
    assert await chat.receipts.mark_read("acme", "bob", cid, reply["seq"]) == reply["seq"]
    assert await chat.receipts.mark_read("acme", "bob", cid, 1) == reply["seq"]
    assert sink.pushed("read_receipt") == [{"user_id": "bob", "seq": reply["seq"]}]


async def test_committed_events_reach_the_sink_in_seq_order(
    chat: Services, sink: RecordingSink
) -> None:
    cid = await make_channel(chat)
    async with trio.open_nursery() as nursery:
        for i in range(10):
            nursery.start_soon(WebSocketOps(chat).post, "acme", "alice", cid, f"m{i}", None)
    seqs = [e.seq for e in sink.channel_events if e.channel_id == cid]
    assert seqs == list(range(1, 13))
