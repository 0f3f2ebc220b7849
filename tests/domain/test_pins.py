"""Pins and bookmarks."""

from __future__ import annotations

from parley.core.codes import ErrorCode
from parley.domain.services import Services
from tests.support.api import RecordingSink
from tests.support.features import channel, log, refused


async def test_pins_and_bookmarks(svc: Services, sink: RecordingSink, org: str) -> None:
    cid = await channel(svc, org)
    other = await channel(svc, org, ["carol"])
    m1 = (await svc.messages.post_message(org, "alice", cid, "decision: A")).message
    m2 = (await svc.messages.post_message(org, "alice", cid, "decision: B")).message
    m3 = (await svc.messages.post_message(org, "carol", other, "elsewhere")).message
    assert await svc.pins.pin(org, "bob", cid, m1.id, on=True) is True
    assert await svc.pins.pin(org, "bob", cid, m1.id, on=True) is False
    await svc.pins.pin(org, "alice", cid, m2.id, on=True)
    assert [p.message.id for p in await svc.pins.pins(org, "carol", cid)] == [m2.id, m1.id]
    assert await svc.pins.pin(org, "alice", cid, m2.id, on=False) is True
    assert [e for _, e in log(sink, cid)[-3:]] == [
        "message_pinned",
        "message_pinned",
        "message_unpinned",
    ]
    assert (await svc.messages.message_view(org, "bob", cid, m1.id)).pinned is True
    await refused(ErrorCode.NOT_FOUND, svc.pins.pins(org, "eve", cid))

    await svc.bookmarks.bookmark(org, "carol", cid, m1.id, "remember")
    await svc.bookmarks.bookmark(org, "carol", other, m3.id, None)
    await svc.bookmarks.bookmark(org, "carol", cid, m2.id, None)
    items, _ = await svc.bookmarks.bookmarks(org, "carol", limit=None, cursor=None)
    assert [(b.message.id, b.note) for b in items] == [
        (m2.id, None),
        (m3.id, None),
        (m1.id, "remember"),
    ]
    first, cursor = await svc.bookmarks.bookmarks(org, "carol", limit=2, cursor=None)
    rest, end = await svc.bookmarks.bookmarks(org, "carol", limit=2, cursor=cursor)
    assert [b.message.id for b in first + rest] == [m2.id, m3.id, m1.id] and end is None
    # Hidden, not leaked: a deleted message, and a channel carol left.
    await svc.edits.delete(org, "alice", cid, m2.id)
    await svc.members.remove_member(org, "carol", other, "carol")
    items, _ = await svc.bookmarks.bookmarks(org, "carol", limit=None, cursor=None)
    assert [b.message.id for b in items] == [m1.id]
    await svc.bookmarks.unbookmark(org, "carol", m1.id)
    await refused(ErrorCode.NOT_FOUND, svc.bookmarks.unbookmark(org, "carol", m1.id))
    await refused(ErrorCode.NOT_FOUND, svc.bookmarks.bookmark(org, "eve", cid, m1.id, None))
    await refused(ErrorCode.BAD_REQUEST, svc.bookmarks.bookmark(org, "bob", cid, m1.id, "n" * 1001))
    await refused(
        ErrorCode.BAD_REQUEST, svc.bookmarks.bookmarks(org, "bob", limit=None, cursor="junk")
    )
