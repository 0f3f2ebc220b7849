"""Shares: the link only for members of the source channel."""

from __future__ import annotations

from parley.core.codes import ErrorCode
from parley.domain.services import Services
from tests.support.api import RecordingSink
from tests.support.features import channel, refused


async def test_share_link_only_for_source_members(
    svc: Services, sink: RecordingSink, org: str
) -> None:
    src = await channel(svc, org, ["bob"])
    dst = await channel(svc, org, ["bob", "carol"])
    m = (await svc.messages.post_message(org, "alice", src, "the decision")).message
    post = await svc.shares.share(org, "bob", src, m.id, dst, "FYI")
    ev = sink.channel_events[-1]
    assert ev.channel_id == dst and ev.data["text"] == "FYI"
    assert ev.data["shared"] == {
        "author": "alice",
        "text": "the decision",
        "created_at": ev.data["shared"]["created_at"],
    }
    bob_view = await svc.messages.message_view(org, "bob", dst, post.message.id)
    assert bob_view.shared is not None
    assert (
        bob_view.shared["channel_id"],
        bob_view.shared["message_id"],
        bob_view.shared["seq"],
    ) == (
        src,
        m.id,
        m.seq,
    )
    carol_view = await svc.messages.message_view(org, "carol", dst, post.message.id)
    assert carol_view.shared == {
        "author": "alice",
        "text": "the decision",
        "created_at": ev.data["shared"]["created_at"],
    }
    bare = await svc.shares.share(org, "bob", src, m.id, dst, None)
    assert bare.message.text == ""
    await refused(
        ErrorCode.NOT_FOUND, svc.shares.share(org, "carol", src, m.id, dst, None)
    )  # not in src
    await refused(ErrorCode.NOT_FOUND, svc.shares.share(org, "alice", src, m.id, dst + "x", None))
    await refused(ErrorCode.NOT_FOUND, svc.shares.share("other", "bob", src, m.id, dst, None))
