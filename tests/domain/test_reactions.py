"""Reactions: one emoji each, counts, who may."""

from __future__ import annotations

from parley.core.codes import ErrorCode
from parley.domain.services import Services
from tests.support.api import RecordingSink
from tests.support.features import channel, log, refused


async def test_reactions(svc: Services, sink: RecordingSink, org: str) -> None:
    cid = await channel(svc, org)
    m = (await svc.messages.post_message(org, "alice", cid, "ship it?")).message
    assert [
        (r.emoji, r.count, r.me)
        for r in await svc.reactions.react(org, "bob", cid, m.id, "👍", on=True)
    ] == [("👍", 1, True)]
    await svc.reactions.react(org, "bob", cid, m.id, "👍", on=True)  # once per user per emoji
    got = await svc.reactions.react(org, "carol", cid, m.id, ":shipit:", on=True)
    got = await svc.reactions.react(org, "carol", cid, m.id, "👍", on=True)
    assert [(r.emoji, r.count, r.me) for r in got] == [("👍", 2, True), (":shipit:", 1, True)]
    got = await svc.reactions.react(org, "bob", cid, m.id, "👍", on=False)
    # Ordered by the earliest reaction still there.
    assert [(r.emoji, r.count, r.me) for r in got] == [(":shipit:", 1, False), ("👍", 1, False)]
    assert [e for _, e in log(sink, cid)[-4:]] == [
        "reaction_added",
        "reaction_added",
        "reaction_added",
        "reaction_removed",
    ]
    assert sink.channel_events[-1].data == {
        "message_id": m.id,
        "message_seq": m.seq,
        "emoji": "👍",
        "user_id": "bob",
        "count": 1,
    }
    view = await svc.messages.message_view(org, "carol", cid, m.id)
    assert [(r.emoji, r.count, r.me) for r in view.reactions] == [
        (":shipit:", 1, True),
        ("👍", 1, True),
    ]
    several = ("👍👍", "😀😀😀", "🇫🇷🇩🇪")  # several emoji are several reactions
    for bad in ("", "thumbs", ":Bad Code:", "a👍", "👍" * 17, "\x00", *several):
        await refused(
            ErrorCode.BAD_REQUEST, svc.reactions.react(org, "bob", cid, m.id, bad, on=True)
        )
    for ok in ("👍🏽", "🇫🇷", "👨‍👩‍👧", "1️⃣", "❤️"):
        await svc.reactions.react(org, "bob", cid, m.id, ok, on=True)
    await refused(ErrorCode.NOT_FOUND, svc.reactions.react(org, "eve", cid, m.id, "👍", on=True))
    await refused(
        ErrorCode.NOT_FOUND, svc.reactions.react(org, "bob", cid, "msg_nope", "👍", on=True)
    )
