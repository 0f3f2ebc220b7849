"""Channels, members, profiles and tenancy, on both backends."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import pytest

from parley.core.events import EventName
from parley.core.records import Channel, ChannelKind, Role
from parley.store import SqlStore, sql
from parley.store.errors import Conflict, NotFound
from tests.support.store import post_message

if TYPE_CHECKING:
    from tests.support.store import Recorder


ORG = "acme"
OTHER = "globex"


async def group(st: SqlStore, creator: str = "alice", members: list[str] | None = None) -> Channel:
    ch, _ = await st.write(
        sql.channels.create_channel,
        org=ORG,
        kind=ChannelKind.GROUP,
        name="general",
        topic="hello",
        created_by=creator,
        members=["bob", "carol"] if members is None else members,
    )
    return ch


async def test_create_channel_returns_channel_and_member_events(
    store: SqlStore, recorder: Recorder
) -> None:
    ch, events = await store.write(
        sql.channels.create_channel,
        org=ORG,
        kind=ChannelKind.GROUP,
        name="general",
        topic="hello",
        created_by="alice",
        members=["bob", "alice", "carol", "bob"],
    )
    assert ch.id.startswith("ch_")
    assert (ch.org, ch.kind, ch.name, ch.topic, ch.created_by) == (
        ORG,
        ChannelKind.GROUP,
        "general",
        "hello",
        "alice",
    )
    assert ch.created_at.utcoffset() is not None
    assert (ch.member_count, ch.last_seq) == (3, 3)
    assert [e.seq for e in events] == [1, 2, 3]
    assert {e.event for e in events} == {EventName.MEMBER_ADDED}
    assert [e.data for e in events] == [
        {"user_id": "alice", "role": "owner", "actor": "alice"},
        {"user_id": "bob", "role": "member", "actor": "alice"},
        {"user_id": "carol", "role": "member", "actor": "alice"},
    ]
    assert all(e.actor == "alice" and e.channel_id == ch.id and e.org == ORG for e in events)
    assert recorder.events == events
    assert await store.read(sql.channels.get_channel, ORG, ch.id) == ch
    assert await store.read(sql.log.events_after, ORG, ch.id, 0, limit=10) == events


async def test_channel_of_another_org_is_not_found(store: SqlStore) -> None:
    ch = await group(store)
    assert await store.read(sql.channels.get_channel, OTHER, ch.id) is None
    assert await store.read(sql.channels.get_channel, ORG, "ch_nope") is None
    assert await store.read(sql.members.get_member, OTHER, ch.id, "alice") is None
    assert (
        await store.read(sql.members.list_members, OTHER, ch.id, limit=10, cursor=None)
    ).items == []
    assert await store.read(sql.channels.user_channel_ids, OTHER, "alice") == set()
    assert (
        await store.read(sql.channels.list_channels, OTHER, "alice", limit=10, cursor=None)
    ).items == []
    assert await store.read(sql.log.events_after, OTHER, ch.id, 0, limit=10) == []
    assert await store.read(sql.receipts.receipts, OTHER, ch.id) == []
    assert await store.read(sql.receipts.unread_count, OTHER, ch.id, "bob") == 0
    assert await store.read(sql.messages.list_messages, OTHER, ch.id) == []
    with pytest.raises(NotFound):
        await store.write(
            sql.members.add_member, OTHER, ch.id, "dave", role=Role.MEMBER, actor="alice"
        )
    with pytest.raises(NotFound):
        await store.write(sql.members.remove_member, OTHER, ch.id, "bob", actor="alice")
    with pytest.raises(NotFound):
        await post_message(store, OTHER, ch.id, author="alice", text="hi")
    with pytest.raises(NotFound):
        await post_message(store, OTHER, ch.id, author="alice", text="hi", idempotency_key="k")
    with pytest.raises(NotFound):
        await store.write(sql.receipts.mark_read, OTHER, ch.id, "alice", 1)
    posted = await post_message(store, ORG, ch.id, author="alice", text="hi")
    assert await store.read(sql.messages.get_message, OTHER, ch.id, posted.message.id) is None
    # Nothing the other org tried touched the channel.
    assert (await store.read(sql.channels.get_channel, ORG, ch.id)) == dataclasses.replace(
        ch, last_seq=4
    )


async def test_direct_channel_is_unique_per_pair(store: SqlStore) -> None:
    async def direct(org: str, a: str, b: str) -> Channel:
        ch, _ = await store.write(
            sql.channels.create_channel,
            org=org,
            kind=ChannelKind.DIRECT,
            name="",
            topic="",
            created_by=a,
            members=[b],
        )
        return ch

    first = await direct(ORG, "alice", "bob")
    assert first.kind is ChannelKind.DIRECT and first.member_count == 2
    with pytest.raises(Conflict):
        await direct(ORG, "alice", "bob")
    with pytest.raises(Conflict):
        await direct(ORG, "bob", "alice")
    await direct(ORG, "alice", "carol")
    await direct(OTHER, "alice", "bob")
    # Group channels with the same pair are not direct channels.
    await group(store, "alice", ["bob"])
    await group(store, "alice", ["bob"])
    ids = await store.read(sql.channels.user_channel_ids, ORG, "alice")
    assert len(ids) == 4 and first.id in ids
    with pytest.raises(ValueError):
        await store.write(
            sql.channels.create_channel,
            org=ORG,
            kind=ChannelKind.DIRECT,
            name="",
            topic="",
            created_by="alice",
            members=["bob", "carol"],
        )


async def test_add_and_remove_member_write_events(store: SqlStore, recorder: Recorder) -> None:
    ch = await group(store)
    added = await store.write(
        sql.members.add_member, ORG, ch.id, "dave", role=Role.ADMIN, actor="alice"
    )
    assert added is not None
    assert (added.event, added.seq, added.actor) == (EventName.MEMBER_ADDED, 4, "alice")
    assert added.data == {"user_id": "dave", "role": "admin", "actor": "alice"}
    assert (
        await store.write(sql.members.add_member, ORG, ch.id, "dave", role=Role.MEMBER, actor="bob")
        is None
    )
    member = await store.read(sql.members.get_member, ORG, ch.id, "dave")
    assert member is not None and (member.role, member.read_seq) == (Role.ADMIN, 0)

    removed = await store.write(sql.members.remove_member, ORG, ch.id, "dave", actor="bob")
    assert removed is not None
    assert (removed.event, removed.seq, removed.actor) == (EventName.MEMBER_REMOVED, 5, "bob")
    assert removed.data == {"user_id": "dave", "role": "admin", "actor": "bob"}
    assert await store.write(sql.members.remove_member, ORG, ch.id, "dave", actor="bob") is None
    assert await store.read(sql.members.get_member, ORG, ch.id, "dave") is None

    after = await store.read(sql.channels.get_channel, ORG, ch.id)
    assert after is not None and (after.member_count, after.last_seq) == (3, 5)
    assert recorder.events[-2:] == [added, removed]
    assert await store.read(sql.log.events_after, ORG, ch.id, 3, limit=10) == [added, removed]
    with pytest.raises(NotFound):
        await store.write(
            sql.members.add_member, ORG, "ch_missing", "dave", role=Role.MEMBER, actor="alice"
        )
    with pytest.raises(NotFound):
        await store.write(sql.members.remove_member, ORG, "ch_missing", "dave", actor="alice")


async def test_list_members_pages_in_join_order(store: SqlStore) -> None:
    ch = await group(store, "alice", ["m3", "m1", "m2"])
    await store.write(sql.members.add_member, ORG, ch.id, "late", role=Role.MEMBER, actor="alice")
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        page = await store.read(sql.members.list_members, ORG, ch.id, limit=2, cursor=cursor)
        pages += 1
        seen += [m.user_id for m in page.items]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert pages == 3
    # Same joined_at for the creation batch: then by user id. The late one comes last.
    assert seen[-1] == "late"
    assert sorted(seen[:4]) == ["alice", "m1", "m2", "m3"]
    assert len(set(seen)) == 5
    with pytest.raises(ValueError):
        await store.read(sql.members.list_members, ORG, ch.id, limit=2, cursor="garbage!")


async def test_user_channel_ids(store: SqlStore) -> None:
    a = await group(store, "alice", ["bob"])
    b = await group(store, "bob", ["carol"])
    assert await store.read(sql.channels.user_channel_ids, ORG, "bob") == {a.id, b.id}
    assert await store.read(sql.channels.user_channel_ids, ORG, "alice") == {a.id}
    await store.write(sql.members.remove_member, ORG, a.id, "bob", actor="alice")
    assert await store.read(sql.channels.user_channel_ids, ORG, "bob") == {b.id}
    assert await store.read(sql.channels.user_channel_ids, ORG, "nobody") == set()


async def test_user_channel_sets_reads_many_users_at_once(
    store: SqlStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same sets as one user_channel_ids read each, for many users and orgs in one
    read, the IN lists split; every user asked is in the answer."""
    a = await group(store, "alice", ["bob"])
    b = await group(store, "bob", ["carol"])
    monkeypatch.setattr(sql.channels, "USERS_PER_QUERY", 2)
    users = [(ORG, "alice"), (ORG, "bob"), (ORG, "carol"), (ORG, "nobody"), (OTHER, "bob")]
    got = await store.read(sql.channels.user_channel_sets, users)
    assert got == {
        (ORG, "alice"): {a.id},
        (ORG, "bob"): {a.id, b.id},
        (ORG, "carol"): {b.id},
        (ORG, "nobody"): set(),
        (OTHER, "bob"): set(),
    }
    for org, user in users:
        assert got[(org, user)] == await store.read(sql.channels.user_channel_ids, org, user)
    assert await store.read(sql.channels.user_channel_sets, []) == {}


async def test_member_events_after_is_the_log_read_for_members_only(store: SqlStore) -> None:
    a = await group(store, "alice", ["bob"])
    log = await store.read(sql.log.events_after, ORG, a.id, 0, limit=100)
    assert log
    got = await store.read(sql.channels.member_events_after, ORG, "bob", a.id, 0, limit=100)
    assert got == log
    one = await store.read(sql.channels.member_events_after, ORG, "bob", a.id, 0, limit=1)
    assert one == log[:1]
    for org, user, channel in ((ORG, "carol", a.id), (ORG, "bob", "nope"), (OTHER, "bob", a.id)):
        assert (
            await store.read(sql.channels.member_events_after, org, user, channel, 0, limit=100)
            is None
        )


async def test_profiles(store: SqlStore) -> None:
    assert await store.read(sql.profiles.get_profile, ORG, "alice") is None
    first = await store.write(
        sql.profiles.set_profile, ORG, "alice", display_name="Alice", avatar_url=None
    )
    assert (first.org, first.user_id, first.display_name, first.avatar_url) == (
        ORG,
        "alice",
        "Alice",
        None,
    )
    assert first.updated_at is not None and first.updated_at.utcoffset() is not None
    assert await store.read(sql.profiles.get_profile, ORG, "alice") == first
    second = await store.write(
        sql.profiles.set_profile, ORG, "alice", display_name=None, avatar_url="https://x/a"
    )
    assert await store.read(sql.profiles.get_profile, ORG, "alice") == second
    assert second.display_name is None and second.avatar_url == "https://x/a"
    assert await store.read(sql.profiles.get_profile, OTHER, "alice") is None


async def test_member_last_seqs(store: SqlStore) -> None:
    a = await group(store, "alice", ["bob"])
    b = await group(store, "carol", [])
    got = await store.read(sql.channels.member_last_seqs, ORG, "bob", [a.id, b.id, "ch_none"])
    assert got == {a.id: a.last_seq}
    assert await store.read(sql.channels.member_last_seqs, ORG, "bob", []) == {}
    assert await store.read(sql.channels.member_last_seqs, "other", "bob", [a.id]) == {}
