"""``post_as_member``: membership, role and idempotency checked in the write transaction."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
import trio

from parley.core.records import Channel, ChannelKind, PostResult, Role
from parley.store import SqlStore, sql
from parley.store.errors import NotFound
from tests.store_fixtures import post_as_member, post_message

if TYPE_CHECKING:
    from tests.store_fixtures import Recorder, WriterGate

ORG = "acme"


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


async def test_idempotent_repeat_returns_the_original(store: SqlStore) -> None:
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
