"""Messages, the log, read positions, unread counts and the channel list, both backends."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

import outcome
import pytest
import trio

from parley.core.events import EventName
from parley.core.records import Channel, ChannelKind, Draft, Message, PostResult, Role
from parley.store import SqlStore, sql
from parley.store.errors import NotFound
from tests.support.store import post_as_member, post_message

if TYPE_CHECKING:
    from tests.support.store import Recorder, WriterGate


ORG = "acme"


async def group(
    st: SqlStore, creator: str = "alice", members: tuple[str, ...] = ("bob",)
) -> Channel:
    ch, _ = await st.write(
        sql.channels.create_channel,
        org=ORG,
        kind=ChannelKind.GROUP,
        name="g",
        topic="",
        created_by=creator,
        members=members,
    )
    return ch


async def post(st: SqlStore, ch: Channel, author: str, text: str) -> Message:
    return (await post_message(st, ORG, ch.id, author=author, text=text)).message


async def test_post_message_appends_to_log(store: SqlStore, recorder: Recorder) -> None:
    ch = await group(store)
    text = "  héllo 👋\n<b>as given</b>  "
    result = await post_message(store, ORG, ch.id, author="bob", text=text)
    msg = result.message
    assert result.created and result.event is not None
    assert msg.id.startswith("msg_") and msg.seq == 3 and msg.text == text
    assert (msg.org, msg.channel_id, msg.author) == (ORG, ch.id, "bob")
    assert msg.created_at.utcoffset() == timedelta(0)
    assert (msg.edited_at, msg.deleted, msg.idempotency_key) == (None, False, None)
    event = result.event
    assert (event.event, event.seq, event.actor, event.ts) == (
        EventName.MESSAGE_POSTED,
        3,
        "bob",
        msg.created_at,
    )
    stamp = msg.created_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    assert event.data == {
        "id": msg.id,
        "channel_id": ch.id,
        "seq": 3,
        "author": "bob",
        "text": text,
        "created_at": stamp,
        "edited_at": None,
        "deleted": False,
    }
    assert event.topic == f"events.{ORG}.conversations.conversation.message_posted.{ch.id}"
    assert recorder.calls[-1] == [event]
    assert await store.read(sql.messages.get_message, ORG, ch.id, msg.id) == msg
    assert await store.read(sql.messages.get_message, ORG, "ch_other", msg.id) is None
    assert (await store.read(sql.log.events_after, ORG, ch.id, 2, limit=5)) == [event]
    channel = await store.read(sql.channels.get_channel, ORG, ch.id)
    assert channel is not None and channel.last_seq == 3
    with pytest.raises(NotFound):
        await post_message(store, ORG, "ch_missing", author="bob", text="x")
    # PostgreSQL cannot store NUL: both backends refuse it.
    with pytest.raises(ValueError):
        await post_message(store, ORG, ch.id, author="bob", text="a\x00b")
    with pytest.raises(ValueError):
        await store.write(
            sql.profiles.set_profile, ORG, "bob", display_name="\x00", avatar_url=None
        )
    assert (await store.read(sql.channels.get_channel, ORG, ch.id)) == channel


async def test_idempotent_repeat_returns_the_original(store: SqlStore, recorder: Recorder) -> None:
    ch = await group(store)
    first = await post_message(store, ORG, ch.id, author="bob", text="one", idempotency_key="k1")
    again = await post_message(store, ORG, ch.id, author="bob", text="two", idempotency_key="k1")
    assert first.created and not again.created
    assert again.event is None and again.message == first.message
    assert again.message.idempotency_key == "k1" and again.message.text == "one"
    # The key is scoped by author and channel.
    other_author = await post_message(
        store, ORG, ch.id, author="alice", text="x", idempotency_key="k1"
    )
    assert other_author.created and other_author.message.seq == first.message.seq + 1
    ch2 = await group(store)
    other_channel = await post_message(
        store, ORG, ch2.id, author="bob", text="x", idempotency_key="k1"
    )
    assert other_channel.created
    channel = await store.read(sql.channels.get_channel, ORG, ch.id)
    assert channel is not None and channel.last_seq == 4  # the repeat took no seq
    posted = [e for e in recorder.events if e.event is EventName.MESSAGE_POSTED]
    assert len(posted) == 3


async def test_list_messages_windows(store: SqlStore) -> None:
    ch = await group(store)  # seqs 1, 2 are member events
    msgs = [await post(store, ch, "alice", f"m{i}") for i in range(6)]  # seqs 3..8
    seqs = [m.seq for m in msgs]
    assert seqs == [3, 4, 5, 6, 7, 8]

    async def listed(**kw: object) -> list[int]:
        return [m.seq for m in await store.read(sql.messages.list_messages, ORG, ch.id, **kw)]  # type: ignore[arg-type]

    assert await listed() == [8, 7, 6, 5, 4, 3]
    assert await listed(limit=2) == [8, 7]
    assert await listed(before=6) == [5, 4, 3]
    assert await listed(before=6, limit=2) == [5, 4]
    assert await listed(after=4) == [5, 6, 7, 8]
    assert await listed(after=4, limit=2) == [5, 6]
    assert await listed(after=4, before=7) == [5, 6]
    assert await listed(after=8) == []
    assert await listed(limit=0) == []
    # Out-of-range integers behave like the nearest BIGINT on both backends.
    assert await listed(before=2**70, limit=2**70) == [8, 7, 6, 5, 4, 3]
    assert await listed(after=-(2**70), limit=1) == [3]
    assert await store.read(sql.log.events_after, ORG, ch.id, 2**70, limit=2**70) == []
    # since/until bound created_at, inclusively.
    t = [m.created_at for m in msgs]
    assert await listed(since=t[2], until=t[4]) == [
        m.seq for m in reversed(msgs) if t[2] <= m.created_at <= t[4]
    ]
    assert await listed(since=t[5]) == [m.seq for m in reversed(msgs) if m.created_at >= t[5]]
    assert await listed(until=t[0]) == [m.seq for m in reversed(msgs) if m.created_at <= t[0]]
    assert 8 in await listed(since=t[5])
    assert 3 in await listed(until=t[0])
    assert await listed(since=t[5] + timedelta(days=1)) == []
    with pytest.raises(ValueError):
        await listed(since=t[0].replace(tzinfo=None))


async def test_events_after_pages_the_log(store: SqlStore) -> None:
    ch = await group(store)
    for i in range(5):
        await post(store, ch, "bob", str(i))
    all_events = await store.read(sql.log.events_after, ORG, ch.id, 0, limit=100)
    assert [e.seq for e in all_events] == list(range(1, 8))
    assert [e.event for e in all_events[:2]] == [EventName.MEMBER_ADDED] * 2
    assert await store.read(sql.log.events_after, ORG, ch.id, 2, limit=3) == all_events[2:5]
    assert await store.read(sql.log.events_after, ORG, ch.id, 7, limit=3) == []
    assert await store.read(sql.log.events_after, ORG, ch.id, 0, limit=0) == []


async def test_mark_read_moves_forward_only_and_clamps(store: SqlStore) -> None:
    ch = await group(store)
    for i in range(3):
        await post(store, ch, "alice", str(i))  # seqs 3, 4, 5
    assert (await store.read(sql.receipts.receipts, ORG, ch.id))[0].updated_at is None
    assert await store.write(sql.receipts.mark_read, ORG, ch.id, "bob", 4) == 4
    assert await store.write(sql.receipts.mark_read, ORG, ch.id, "bob", 2) == 4
    assert await store.write(sql.receipts.mark_read, ORG, ch.id, "bob", 99) == 5
    assert await store.write(sql.receipts.mark_read, ORG, ch.id, "bob", -1) == 5
    assert await store.write(sql.receipts.mark_read, ORG, ch.id, "bob", 2**70) == 5
    member = await store.read(sql.members.get_member, ORG, ch.id, "bob")
    assert member is not None and member.read_seq == 5
    receipts = {r.user_id: r for r in await store.read(sql.receipts.receipts, ORG, ch.id)}
    assert set(receipts) == {"alice", "bob"}
    assert receipts["bob"].read_seq == 5 and receipts["bob"].updated_at is not None
    assert receipts["alice"].read_seq == 0 and receipts["alice"].updated_at is None
    with pytest.raises(NotFound):
        await store.write(sql.receipts.mark_read, ORG, ch.id, "mallory", 1)
    with pytest.raises(NotFound):
        await store.write(sql.receipts.mark_read, ORG, "ch_missing", "bob", 1)


async def test_unread_excludes_own_and_read_messages(store: SqlStore) -> None:
    ch = await group(store, "alice", ("bob", "carol"))
    await post(store, ch, "alice", "a1")
    await post(store, ch, "bob", "b1")
    await post(store, ch, "alice", "a2")
    assert await store.read(sql.receipts.unread_count, ORG, ch.id, "bob") == 2
    assert await store.read(sql.receipts.unread_count, ORG, ch.id, "alice") == 1
    assert await store.read(sql.receipts.unread_count, ORG, ch.id, "carol") == 3
    assert await store.read(sql.receipts.unread_count, ORG, ch.id, "stranger") == 0
    await store.write(sql.receipts.mark_read, ORG, ch.id, "carol", 5)  # alice a1 (4), bob b1 (5)
    assert await store.read(sql.receipts.unread_count, ORG, ch.id, "carol") == 1
    # Member events are not messages: joining adds nothing to count.
    await store.write(sql.members.add_member, ORG, ch.id, "dave", role=Role.MEMBER, actor="alice")
    assert await store.read(sql.receipts.unread_count, ORG, ch.id, "carol") == 1
    assert await store.read(sql.receipts.unread_count, ORG, ch.id, "dave") == 3


async def test_list_channels_newest_activity_first(store: SqlStore) -> None:
    a = await group(store, "alice", ("bob",))
    b = await group(store, "alice", ("bob",))
    c = await group(store, "carol", ("bob",))
    mine = await group(store, "alice", ())  # bob is not a member
    await post(store, a, "alice", "a1")
    await post(store, a, "bob", "mine")
    await post(store, c, "carol", "c1")
    await post(store, c, "carol", "c2")
    await post(store, mine, "alice", "not bob's")

    page = await store.read(sql.channels.list_channels, ORG, "bob", limit=10, cursor=None)
    assert [s.channel.id for s in page.items] == [c.id, a.id, b.id]
    assert page.next_cursor is None
    by_id = {s.channel.id: s for s in page.items}
    assert by_id[c.id].unread == 2 and by_id[a.id].unread == 1 and by_id[b.id].unread == 0
    last = by_id[c.id].last_message
    assert last is not None and last.text == "c2"
    last_a = by_id[a.id].last_message
    assert last_a is not None and last_a.text == "mine"
    assert by_id[b.id].last_message is None
    assert by_id[a.id].role is Role.MEMBER and by_id[a.id].read_seq == 0
    assert by_id[c.id].channel.last_seq == 4
    await store.write(sql.receipts.mark_read, ORG, c.id, "bob", 100)
    again = await store.read(sql.channels.list_channels, ORG, "bob", limit=10, cursor=None)
    top = again.items[0]
    assert (top.channel.id, top.unread, top.read_seq) == (c.id, 0, 4)
    # Member changes are not activity: the order stays.
    await store.write(sql.members.add_member, ORG, b.id, "dave", role=Role.MEMBER, actor="alice")
    await store.write(sql.members.remove_member, ORG, b.id, "dave", actor="alice")
    reordered = await store.read(sql.channels.list_channels, ORG, "bob", limit=10, cursor=None)
    assert [s.channel.id for s in reordered.items] == [c.id, a.id, b.id]
    owner_view = await store.read(sql.channels.list_channels, ORG, "alice", limit=10, cursor=None)
    assert {s.channel.id: s.role for s in owner_view.items}[a.id] is Role.OWNER


async def test_list_channels_pages_with_cursor(store: SqlStore) -> None:
    made = [await group(store, "alice", ("bob",)) for _ in range(5)]
    for ch in made[:3]:
        await post(store, ch, "alice", "x")
    seen: list[str] = []
    cursor: str | None = None
    for _ in range(10):
        page = await store.read(sql.channels.list_channels, ORG, "bob", limit=2, cursor=cursor)
        assert len(page.items) <= 2
        seen += [s.channel.id for s in page.items]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == [made[2].id, made[1].id, made[0].id, made[4].id, made[3].id]
    assert (
        await store.read(sql.channels.list_channels, ORG, "bob", limit=0, cursor=None)
    ).items == []
    with pytest.raises(ValueError):
        await store.read(sql.channels.list_channels, ORG, "bob", limit=2, cursor="bm90IGEgY3Vyc29y")


class Refused(Exception):
    pass


class Seen:
    """An ``authorize`` that records its arguments and refuses members (not moderators)."""

    def __init__(self, refuse: Role | None = None) -> None:
        self.calls: list[tuple[ChannelKind, Role]] = []
        self.refuse = refuse

    def __call__(self, kind: ChannelKind, role: Role) -> None:
        self.calls.append((kind, role))
        if role is self.refuse:
            raise Refused(f"{role} may not post in {kind}")


async def channel(st: SqlStore, kind: ChannelKind = ChannelKind.GROUP) -> Channel:
    ch, _ = await st.write(
        sql.channels.create_channel,
        org=ORG,
        kind=kind,
        name="c",
        topic="",
        created_by="alice",
        members=["bob"],
    )
    return ch


async def test_member_posts_and_authorize_sees_kind_and_role(
    store: SqlStore, recorder: Recorder
) -> None:
    ch = await channel(store, ChannelKind.BROADCAST)
    seen = Seen()
    result = await post_as_member(store, ORG, ch.id, author="bob", text="hi", authorize=seen)
    assert result.created and result.message.seq == 3 and result.event is not None
    assert seen.calls == [(ChannelKind.BROADCAST, Role.MEMBER)]
    assert recorder.events[-1] == result.event
    assert (await store.read(sql.messages.list_messages, ORG, ch.id))[0] == result.message


@pytest.mark.parametrize("who", ["carol", "other-org", "no-channel"])
async def test_not_found_for_non_members_other_orgs_and_missing_channels(
    store: SqlStore, who: str
) -> None:
    ch = await channel(store)
    seen = Seen()
    org, cid, author = ORG, ch.id, "bob"
    if who == "carol":
        author = "carol"
    elif who == "other-org":
        org = "globex"
    else:
        cid = "ch_missing"
    with pytest.raises(NotFound):
        await post_as_member(store, org, cid, author=author, text="x", authorize=seen)
    with pytest.raises(NotFound):  # an idempotency key changes nothing
        await post_as_member(
            store, org, cid, author=author, text="x", idempotency_key="k", authorize=seen
        )
    assert seen.calls == []
    assert (await store.read(sql.channels.get_channel, ORG, ch.id)) == ch  # no seq taken
    assert await store.read(sql.messages.list_messages, ORG, ch.id) == []


async def test_refusal_writes_nothing(store: SqlStore, recorder: Recorder) -> None:
    ch = await channel(store, ChannelKind.BROADCAST)
    before = len(recorder.events)
    with pytest.raises(Refused):
        await post_as_member(
            store, ORG, ch.id, author="bob", text="x", authorize=Seen(refuse=Role.MEMBER)
        )
    assert len(recorder.events) == before
    assert await store.read(sql.messages.list_messages, ORG, ch.id) == []
    ok = await post_as_member(
        store, ORG, ch.id, author="alice", text="y", authorize=Seen(refuse=Role.MEMBER)
    )
    assert ok.message.seq == 3  # the refused post used no seq


async def test_idempotent_repeat_by_a_member_returns_the_original(store: SqlStore) -> None:
    ch = await channel(store)
    first = await post_as_member(
        store, ORG, ch.id, author="bob", text="a", idempotency_key="k1", authorize=Seen()
    )
    again = await post_as_member(
        store, ORG, ch.id, author="bob", text="b", idempotency_key="k1", authorize=Seen()
    )
    assert first.created and not again.created and again.event is None
    assert again.message == first.message
    # post_message and post_as_member share the key space
    plain = await post_message(store, ORG, ch.id, author="bob", text="c", idempotency_key="k1")
    assert plain.message == first.message
    other = await post_as_member(
        store, ORG, ch.id, author="alice", text="d", idempotency_key="k1", authorize=Seen()
    )
    assert other.created and other.message.seq == first.message.seq + 1


async def test_removed_member_is_refused_even_with_a_known_key(store: SqlStore) -> None:
    ch = await channel(store)
    await post_as_member(
        store, ORG, ch.id, author="bob", text="a", idempotency_key="k", authorize=Seen()
    )
    await store.write(sql.members.remove_member, ORG, ch.id, "bob", actor="alice")
    with pytest.raises(NotFound):
        await post_as_member(
            store, ORG, ch.id, author="bob", text="a", idempotency_key="k", authorize=Seen()
        )


async def test_one_batch_sees_membership_changes_in_queue_order(
    store: SqlStore, recorder: Recorder, gate: WriterGate
) -> None:
    """Posts, a removal, a refused post and a repeat queued together form one batch; each
    request sees the writes before it, and failures stay isolated."""
    ch = await channel(store, ChannelKind.BROADCAST)
    out: dict[str, PostResult | Exception] = {}
    refuse = Seen(refuse=Role.MEMBER)

    async def post(tag: str, author: str, key: str | None) -> None:
        try:
            out[tag] = await post_as_member(
                store, ORG, ch.id, author=author, text=tag, idempotency_key=key, authorize=refuse
            )
        except Exception as exc:
            out[tag] = exc

    async def remove() -> None:
        await store.write(sql.members.remove_member, ORG, ch.id, "alice", actor="alice")

    async with gate.one_batch() as nursery:
        for tag, author, key in (("a1", "alice", "k"), ("b1", "bob", None), ("a2", "alice", "k")):
            nursery.start_soon(post, tag, author, key)
            await trio.testing.wait_all_tasks_blocked()
        nursery.start_soon(remove)
        await trio.testing.wait_all_tasks_blocked()
        nursery.start_soon(post, "a3", "alice", "k")
    a1, b1, a2, a3 = out["a1"], out["b1"], out["a2"], out["a3"]
    assert isinstance(a1, PostResult) and a1.created and a1.message.seq == 3
    assert isinstance(b1, Refused)
    assert isinstance(a2, PostResult) and not a2.created and a2.message == a1.message
    assert isinstance(a3, NotFound)
    assert [e.seq for e in recorder.events[-2:]] == [3, 4]  # the post, then the removal


async def test_plain_posts_in_bulk_answer_as_one_by_one(
    store: SqlStore, recorder: Recorder
) -> None:
    """``post_plain_many`` (a connection's pipelined posts): in order, in one write; every
    draft gets :func:`post`'s answer in its place (no such channel, not a member, an
    idempotent repeat of an earlier post or of one in the same call) and the accepted ones
    take consecutive seqs, their events reaching the listener in that order."""
    ch = (await group(store, "alice", ())).id
    other = (await group(store, "carol", ())).id
    first = await post_message(store, ORG, ch, author="alice", text="before", idempotency_key="k0")

    def members_only(kind: ChannelKind, role: Role | None) -> None:
        if role is None:
            raise NotFound(f"channel {ch}")

    drafts = [
        Draft(ORG, ch, "alice", "a", idempotency_key="k1"),
        Draft(ORG, "ch_missing", "alice", "x"),
        Draft(ORG, other, "alice", "not a member"),
        Draft(ORG, ch, "alice", "again", idempotency_key="k0"),
        Draft(ORG, ch, "alice", "a twice", idempotency_key="k1"),
        Draft(ORG, ch, "alice", "b"),
    ]
    batches = store.writer.batches
    results = await store.write(sql.messages.post_plain_many, drafts, authorize=members_only)
    assert store.writer.batches == batches + 1
    missing, stranger = results[1], results[2]
    assert isinstance(missing, outcome.Error) and isinstance(missing.error, NotFound)
    assert isinstance(stranger, outcome.Error) and isinstance(stranger.error, NotFound)
    a, again, twice, b = (results[i].unwrap() for i in (0, 3, 4, 5))
    assert (a.created, again.created, twice.created, b.created) == (True, False, False, True)
    assert again.message.id == first.message.id and twice.message.id == a.message.id
    assert (a.message.seq, b.message.seq) == (first.message.seq + 1, first.message.seq + 2)
    assert recorder.calls[-1] == [a.event, b.event]
    stored = await store.read(sql.log.events_after, ORG, ch, 0, limit=10)
    posted = [e.data["text"] for e in stored if e.event is EventName.MESSAGE_POSTED]
    assert posted == ["before", "a", "b"]
    with pytest.raises(ValueError):
        await store.write(
            sql.messages.post_plain_many,
            [Draft(ORG, ch, "alice", "r", thread_root=a.message.id)],
            authorize=members_only,
        )
