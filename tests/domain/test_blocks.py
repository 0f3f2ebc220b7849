"""Blocking (docs/privacy.md), on SQLite and PostgreSQL: the blocked user cannot open a
direct channel with me or add me anywhere (answered like a deleted account), their
messages are collapsed for me, count in no unread of mine and mention me to no effect;
nothing of it reaches them; unblocking undoes it all."""

from __future__ import annotations

from parley.core.codes import ErrorCode
from parley.core.topics import mention_topic
from parley.domain.services import Services
from tests.support.api import RecordingSink
from tests.support.features import refused


async def test_block_and_unblock(svc: Services, sink: RecordingSink, org: str) -> None:
    room = await svc.channels.create_channel(
        org, "alice", kind="group", name="g", members=["bob", "mallory"]
    )
    dm = await svc.channels.create_channel(org, "mallory", kind="direct", members=["alice"])
    assert await svc.blocks.block(org, "alice", "mallory") is True
    assert await svc.blocks.block(org, "alice", "mallory") is False
    await refused(ErrorCode.BAD_REQUEST, svc.blocks.block(org, "alice", "alice"))
    await refused(ErrorCode.BAD_REQUEST, svc.blocks.block(org, "alice", ""))
    assert [u for u, _ in await svc.blocks.blocks(org, "alice")] == ["mallory"]
    assert await svc.blocks.blocks(org, "mallory") == []
    published = len(sink.published), len(sink.channel_events)

    # mallory cannot reach alice: the answer a deleted account gets; nothing is written
    other = await svc.channels.create_channel(org, "mallory", kind="group", name="m")
    for refusal in (
        svc.channels.create_channel(org, "mallory", kind="direct", members=["alice"]),
        svc.channels.create_channel(org, "mallory", kind="group", name="x", members=["alice"]),
        svc.members.add_member(org, "mallory", other.id, "alice"),
    ):
        await refused(ErrorCode.NOT_FOUND, refusal)
    page = await svc.channels.list_channels(org, "mallory", limit=None, cursor=None)
    assert sorted(s.channel.id for s in page.items) == sorted([room.id, dm.id, other.id])
    # ...while alice may still add mallory, and bob may add alice
    await svc.members.add_member(org, "bob", room.id, "carol")

    # mallory's messages: collapsed for alice (not for bob), no unread, no mention
    m = (await svc.messages.post_message(org, "mallory", room.id, "hey @alice @bob")).message
    await svc.messages.post_message(org, "mallory", dm.id, "answer me")
    views, _ = await svc.messages.timeline(org, "alice", room.id, before=None, limit=None)
    assert [(v.message.id, v.collapsed) for v in views[:1]] == [(m.id, True)]
    assert (await svc.messages.message_view(org, "bob", room.id, m.id)).collapsed is False
    assert (await svc.channels.get_channel(org, "alice", room.id)).unread == 0
    assert (await svc.channels.get_channel(org, "alice", dm.id)).unread == 0
    assert (await svc.channels.get_channel(org, "bob", room.id)).unread == 1
    summaries = await svc.channels.list_channels(org, "alice", limit=None, cursor=None)
    assert {s.channel.id: s.unread for s in summaries.items} == {room.id: 0, dm.id: 0}
    topics = [t for t, _ in sink.published[published[0] :]]
    assert mention_topic(org, "alice") not in topics and mention_topic(org, "bob") in topics
    assert (await svc.mentions.mentions(org, "alice", room.id))[0] == 0
    # nothing about the block was published (only the channel events of the posts)
    assert all(
        e.event in ("message_posted", "member_added") for e in sink.channel_events[published[1] :]
    )

    # unblocking restores everything from now on
    assert await svc.blocks.unblock(org, "alice", "mallory") is True
    assert await svc.blocks.unblock(org, "alice", "mallory") is False
    assert (await svc.messages.message_view(org, "alice", room.id, m.id)).collapsed is False
    assert (await svc.channels.get_channel(org, "alice", dm.id)).unread == 1
    await svc.members.add_member(org, "mallory", other.id, "alice")
