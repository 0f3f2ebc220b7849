"""Mentions and teams: who is mentioned, stored and pushed (the mention pushes; the
notifications a mention also makes are tests/domain/test_notifications.py's)."""

from __future__ import annotations

from parley.core.claims import Claims
from parley.core.codes import ErrorCode
from parley.domain.services import Services
from tests.support.api import RecordingSink
from tests.support.features import channel, refused


async def test_mentions_and_teams(svc: Services, sink: RecordingSink, org: str) -> None:
    cid = await channel(svc, org, ["bob", "carol", "dave"])
    team = await svc.teams.create_team(org, "alice", "design", ["carol", "zed"])
    await refused(ErrorCode.CONFLICT, svc.teams.create_team(org, "bob", "design", []))
    await refused(ErrorCode.BAD_REQUEST, svc.teams.create_team(org, "bob", "here", []))
    await refused(ErrorCode.BAD_REQUEST, svc.teams.create_team(org, "bob", "has space", []))
    await refused(
        ErrorCode.FORBIDDEN,
        svc.teams.set_team_member(org, "bob", team.id, "bob", on=True, service=False),
    )
    got = await svc.teams.set_team_member(org, "carol", team.id, "dave", on=True, service=False)
    assert got.members == ["carol", "dave", "zed"]
    await refused(ErrorCode.NOT_FOUND, svc.teams.team("other", team.id))
    assert [t.name for t in await svc.teams.teams(org)] == ["design"]

    sink.published.clear()
    text = "hey @bob and @design, not `@dave` nor @eve; mail x@carol.io"
    post = await svc.messages.post_message(org, "alice", cid, text)
    topics = sorted(t for t, _ in sink.published if ".user.mentioned." in t)
    # zed (team member) and eve cannot see the channel: no one is notified for them.
    assert topics == [
        f"events.{org}.users.user.mentioned.bob",
        f"events.{org}.users.user.mentioned.carol",
        f"events.{org}.users.user.mentioned.dave",
    ]
    data = dict(sink.published)[f"events.{org}.users.user.mentioned.carol"]
    assert data["priority"] is True and data["via"] == "team:design"
    assert (data["seq"], data["message_id"], data["channel"]) == (
        post.message.seq,
        post.message.id,
        cid,
    )
    unread, items = await svc.mentions.mentions(org, "bob", cid)
    assert unread == 1 and [m.message_id for m in items] == [post.message.id]
    await svc.receipts.mark_read(org, "bob", cid, post.message.seq)
    assert (await svc.mentions.mentions(org, "bob", cid))[0] == 0
    sink.published.clear()
    await svc.threads.reply(org, "bob", cid, post.message.id, "@channel see above")
    mentioned = [t for t, _ in sink.published if ".user.mentioned." in t]
    assert sorted(t.rsplit(".", 1)[1] for t in mentioned) == ["alice", "carol", "dave"]
    await refused(ErrorCode.NOT_FOUND, svc.mentions.mentions(org, "zed", cid))


async def test_a_completed_stream_notifies_its_mentions(
    svc: Services, sink: RecordingSink, org: str
) -> None:
    cid = await channel(svc, org)
    bot = Claims(sub="bot", org=org, exp=2e9, roles=("service",))
    s = await svc.streams.open_stream(bot, cid)
    await svc.streams.append_stream(bot, cid, s["stream_id"], "done, @carol", None)
    sink.published.clear()
    await svc.streams.complete_stream(bot, cid, s["stream_id"])
    await svc.streams.complete_stream(bot, cid, s["stream_id"])  # a retry notifies no one again
    mentioned = [t for t, _ in sink.published if ".user.mentioned." in t]
    assert mentioned == [f"events.{org}.users.user.mentioned.carol"]
