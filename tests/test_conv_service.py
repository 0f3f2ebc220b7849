"""The conversation services over a real store, on SQLite and PostgreSQL: each feature's log
events (own seq, in order), its views and its refusals."""

from __future__ import annotations

import secrets
from typing import Any

import pytest

from parley.core.claims import Claims
from parley.core.codes import ErrorCode
from parley.core.errors import ClientError
from parley.domain.services import Services
from parley.store import SqlStore
from tests.api_helpers import RecordingSink, make_services


@pytest.fixture
def org() -> str:
    return "o" + secrets.token_hex(4)  # teams are unique per org; the PG schema is shared


@pytest.fixture
def sink() -> RecordingSink:
    return RecordingSink()


@pytest.fixture
def chat(store: SqlStore, sink: RecordingSink) -> Services:
    return make_services(store, sink)


@pytest.fixture
def conv(store: SqlStore, sink: RecordingSink, chat: Services) -> Services:
    return chat


async def refused(code: ErrorCode, coro: Any) -> None:
    with pytest.raises(ClientError) as exc:
        await coro
    assert exc.value.code is code, exc.value.message


async def channel(chat: Services, org: str, members: list[str] | None = None) -> str:
    members = ["bob", "carol"] if members is None else members
    ch = await chat.channels.create_channel(org, "alice", kind="group", name="g", members=members)
    return ch.id


def log(sink: RecordingSink, cid: str) -> list[tuple[int, str]]:
    return [(e.seq, str(e.event)) for e in sink.channel_events if e.channel_id == cid]


async def test_edit_history_and_delete(
    chat: Services, conv: Services, sink: RecordingSink, org: str
) -> None:
    cid = await channel(chat, org)
    m = (await chat.messages.post_message(org, "bob", cid, "first")).message
    edited = await conv.edits.edit(org, "bob", cid, m.id, "second **bold**")
    assert edited.text == "second **bold**" and edited.edited_at is not None
    await conv.edits.edit(org, "bob", cid, m.id, "third")
    ev = sink.channel_events[-1]
    assert (ev.event, ev.seq, ev.data["seq"], ev.data["text"]) == ("message_edited", 6, 4, "third")
    assert log(sink, cid)[-3:] == [
        (4, "message_posted"),
        (5, "message_edited"),
        (6, "message_edited"),
    ]
    # The text is edited in place; the message keeps its seq.
    stored = await chat.messages.get_message(org, "carol", cid, m.id)
    assert (stored.text, stored.seq) == ("third", 4)
    for reader in ("bob", "alice"):  # author, channel owner
        current, versions = await conv.edits.versions(org, reader, cid, m.id)
        assert current.text == "third"
        assert [(v.version, v.text) for v in versions] == [(1, "first"), (2, "second **bold**")]
    await refused(ErrorCode.FORBIDDEN, conv.edits.versions(org, "carol", cid, m.id))
    await refused(ErrorCode.FORBIDDEN, conv.edits.edit(org, "carol", cid, m.id, "hijack"))
    await refused(ErrorCode.NOT_FOUND, conv.edits.edit(org, "eve", cid, m.id, "x"))
    await refused(ErrorCode.NOT_FOUND, conv.edits.edit("other", "bob", cid, m.id, "x"))
    await refused(ErrorCode.BAD_REQUEST, conv.edits.edit(org, "bob", cid, m.id, "  "))
    await refused(ErrorCode.FORBIDDEN, conv.edits.delete(org, "carol", cid, m.id))
    await conv.edits.delete(org, "alice", cid, m.id)  # owner deletes another's message
    await conv.edits.delete(org, "alice", cid, m.id)  # again: no second event
    assert log(sink, cid)[-1] == (7, "message_deleted")
    gone = await chat.messages.get_message(org, "bob", cid, m.id)
    assert gone.deleted and gone.text == ""
    await refused(ErrorCode.NOT_FOUND, conv.edits.versions(org, "bob", cid, m.id))
    await refused(ErrorCode.NOT_FOUND, conv.edits.edit(org, "bob", cid, m.id, "back"))
    # Authors delete their own.
    own = (await chat.messages.post_message(org, "carol", cid, "oops")).message
    await conv.edits.delete(org, "carol", cid, own.id)
    assert log(sink, cid)[-1] == (9, "message_deleted")


async def test_reactions(chat: Services, conv: Services, sink: RecordingSink, org: str) -> None:
    cid = await channel(chat, org)
    m = (await chat.messages.post_message(org, "alice", cid, "ship it?")).message
    assert [
        (r.emoji, r.count, r.me)
        for r in await conv.reactions.react(org, "bob", cid, m.id, "👍", on=True)
    ] == [("👍", 1, True)]
    await conv.reactions.react(org, "bob", cid, m.id, "👍", on=True)  # once per user per emoji
    got = await conv.reactions.react(org, "carol", cid, m.id, ":shipit:", on=True)
    got = await conv.reactions.react(org, "carol", cid, m.id, "👍", on=True)
    assert [(r.emoji, r.count, r.me) for r in got] == [("👍", 2, True), (":shipit:", 1, True)]
    got = await conv.reactions.react(org, "bob", cid, m.id, "👍", on=False)
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
    view = await conv.messages.message_view(org, "carol", cid, m.id)
    assert [(r.emoji, r.count, r.me) for r in view.reactions] == [
        (":shipit:", 1, True),
        ("👍", 1, True),
    ]
    for bad in ("", "thumbs", ":Bad Code:", "a👍", "👍" * 17, "\x00"):
        await refused(
            ErrorCode.BAD_REQUEST, conv.reactions.react(org, "bob", cid, m.id, bad, on=True)
        )
    for ok in ("👍🏽", "🇫🇷", "👨‍👩‍👧", "1️⃣", "❤️"):
        await conv.reactions.react(org, "bob", cid, m.id, ok, on=True)
    await refused(ErrorCode.NOT_FOUND, conv.reactions.react(org, "eve", cid, m.id, "👍", on=True))
    await refused(
        ErrorCode.NOT_FOUND, conv.reactions.react(org, "bob", cid, "msg_nope", "👍", on=True)
    )


async def test_threads_timeline_and_unread(
    chat: Services, conv: Services, sink: RecordingSink, org: str
) -> None:
    cid = await channel(chat, org)
    root = (await chat.messages.post_message(org, "alice", cid, "plan?")).message
    r1 = await conv.threads.reply(org, "bob", cid, root.id, "A")
    r2 = await conv.threads.reply(org, "carol", cid, r1.message.id, "B", also_in_channel=True)
    await chat.messages.post_message(org, "bob", cid, "unrelated")
    ev = next(e for e in sink.channel_events if e.seq == r2.message.seq and e.channel_id == cid)
    assert ev.data["thread_root"] == root.id and ev.data["also_in_channel"] is True
    items, _ = await conv.messages.timeline(org, "alice", cid, before=None, limit=None)
    assert [v.message.text for v in items] == ["unrelated", "B", "plan?"]
    summary = items[-1].thread
    assert summary is not None
    assert (summary.reply_count, summary.participants) == (2, ["bob", "carol"])
    assert summary.last_reply_at == r2.message.created_at
    t = await conv.threads.thread(org, "alice", cid, root.id, after=None, limit=None)
    assert [r.message.text for r in t.replies] == ["A", "B"] and t.unread == 2
    assert (await conv.threads.thread(org, "bob", cid, root.id, after=None, limit=None)).unread == 1
    assert (
        await conv.threads.read_thread(org, "alice", cid, root.id, r1.message.seq) == r1.message.seq
    )
    assert (
        await conv.threads.read_thread(org, "alice", cid, root.id, 1) == r1.message.seq
    )  # never back
    threads = await conv.threads.threads(org, "alice", cid, limit=None)
    assert [(v.message.id, n) for v, n in threads] == [(root.id, 1)]
    page, nxt = await conv.messages.timeline(org, "alice", cid, before=None, limit=1)
    assert len(page) == 1 and nxt == page[0].message.seq
    await refused(
        ErrorCode.NOT_FOUND,
        conv.threads.thread(org, "alice", cid, r1.message.id, after=None, limit=None),
    )
    await refused(ErrorCode.NOT_FOUND, conv.threads.reply(org, "bob", cid, "msg_nope", "x"))
    await refused(ErrorCode.NOT_FOUND, conv.threads.reply(org, "eve", cid, root.id, "x"))
    await refused(
        ErrorCode.BAD_REQUEST, conv.threads.reply(org, "bob", cid, root.id, "```py\nopen")
    )


async def test_pins_and_bookmarks(
    chat: Services, conv: Services, sink: RecordingSink, org: str
) -> None:
    cid = await channel(chat, org)
    other = await channel(chat, org, ["carol"])
    m1 = (await chat.messages.post_message(org, "alice", cid, "decision: A")).message
    m2 = (await chat.messages.post_message(org, "alice", cid, "decision: B")).message
    m3 = (await chat.messages.post_message(org, "carol", other, "elsewhere")).message
    assert await conv.pins.pin(org, "bob", cid, m1.id, on=True) is True
    assert await conv.pins.pin(org, "bob", cid, m1.id, on=True) is False
    await conv.pins.pin(org, "alice", cid, m2.id, on=True)
    assert [p.message.id for p in await conv.pins.pins(org, "carol", cid)] == [m2.id, m1.id]
    assert await conv.pins.pin(org, "alice", cid, m2.id, on=False) is True
    assert [e for _, e in log(sink, cid)[-3:]] == [
        "message_pinned",
        "message_pinned",
        "message_unpinned",
    ]
    assert (await conv.messages.message_view(org, "bob", cid, m1.id)).pinned is True
    await refused(ErrorCode.NOT_FOUND, conv.pins.pins(org, "eve", cid))

    await conv.bookmarks.bookmark(org, "carol", cid, m1.id, "remember")
    await conv.bookmarks.bookmark(org, "carol", other, m3.id, None)
    await conv.bookmarks.bookmark(org, "carol", cid, m2.id, None)
    items, _ = await conv.bookmarks.bookmarks(org, "carol", limit=None, cursor=None)
    assert [(b.message.id, b.note) for b in items] == [
        (m2.id, None),
        (m3.id, None),
        (m1.id, "remember"),
    ]
    first, cursor = await conv.bookmarks.bookmarks(org, "carol", limit=2, cursor=None)
    rest, end = await conv.bookmarks.bookmarks(org, "carol", limit=2, cursor=cursor)
    assert [b.message.id for b in first + rest] == [m2.id, m3.id, m1.id] and end is None
    # Hidden, not leaked: a deleted message, and a channel carol left.
    await conv.edits.delete(org, "alice", cid, m2.id)
    await chat.members.remove_member(org, "carol", other, "carol")
    items, _ = await conv.bookmarks.bookmarks(org, "carol", limit=None, cursor=None)
    assert [b.message.id for b in items] == [m1.id]
    await conv.bookmarks.unbookmark(org, "carol", m1.id)
    await refused(ErrorCode.NOT_FOUND, conv.bookmarks.unbookmark(org, "carol", m1.id))
    await refused(ErrorCode.NOT_FOUND, conv.bookmarks.bookmark(org, "eve", cid, m1.id, None))
    await refused(
        ErrorCode.BAD_REQUEST, conv.bookmarks.bookmark(org, "bob", cid, m1.id, "n" * 1001)
    )
    await refused(
        ErrorCode.BAD_REQUEST, conv.bookmarks.bookmarks(org, "bob", limit=None, cursor="junk")
    )


async def test_mentions_and_teams(
    chat: Services, conv: Services, sink: RecordingSink, org: str
) -> None:
    cid = await channel(chat, org, ["bob", "carol", "dave"])
    team = await conv.teams.create_team(org, "alice", "design", ["carol", "zed"])
    await refused(ErrorCode.CONFLICT, conv.teams.create_team(org, "bob", "design", []))
    await refused(ErrorCode.BAD_REQUEST, conv.teams.create_team(org, "bob", "here", []))
    await refused(ErrorCode.BAD_REQUEST, conv.teams.create_team(org, "bob", "has space", []))
    await refused(
        ErrorCode.FORBIDDEN,
        conv.teams.set_team_member(org, "bob", team.id, "bob", on=True, service=False),
    )
    got = await conv.teams.set_team_member(org, "carol", team.id, "dave", on=True, service=False)
    assert got.members == ["carol", "dave", "zed"]
    await refused(ErrorCode.NOT_FOUND, conv.teams.team("other", team.id))
    assert [t.name for t in await conv.teams.teams(org)] == ["design"]

    sink.published.clear()
    text = "hey @bob and @design, not `@dave` nor @eve; mail x@carol.io"
    post = await chat.messages.post_message(org, "alice", cid, text)
    topics = sorted(t for t, _ in sink.published)
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
    unread, items = await conv.mentions.mentions(org, "bob", cid)
    assert unread == 1 and [m.message_id for m in items] == [post.message.id]
    await chat.receipts.mark_read(org, "bob", cid, post.message.seq)
    assert (await conv.mentions.mentions(org, "bob", cid))[0] == 0
    sink.published.clear()
    await conv.threads.reply(org, "bob", cid, post.message.id, "@channel see above")
    assert sorted(t.rsplit(".", 1)[1] for t, _ in sink.published) == ["alice", "carol", "dave"]
    await refused(ErrorCode.NOT_FOUND, conv.mentions.mentions(org, "zed", cid))


async def test_share_link_only_for_source_members(
    chat: Services, conv: Services, sink: RecordingSink, org: str
) -> None:
    src = await channel(chat, org, ["bob"])
    dst = await channel(chat, org, ["bob", "carol"])
    m = (await chat.messages.post_message(org, "alice", src, "the decision")).message
    post = await conv.shares.share(org, "bob", src, m.id, dst, "FYI")
    ev = sink.channel_events[-1]
    assert ev.channel_id == dst and ev.data["text"] == "FYI"
    assert ev.data["shared"] == {
        "author": "alice",
        "text": "the decision",
        "created_at": ev.data["shared"]["created_at"],
    }
    bob_view = await conv.messages.message_view(org, "bob", dst, post.message.id)
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
    carol_view = await conv.messages.message_view(org, "carol", dst, post.message.id)
    assert carol_view.shared == {
        "author": "alice",
        "text": "the decision",
        "created_at": ev.data["shared"]["created_at"],
    }
    bare = await conv.shares.share(org, "bob", src, m.id, dst, None)
    assert bare.message.text == ""
    await refused(
        ErrorCode.NOT_FOUND, conv.shares.share(org, "carol", src, m.id, dst, None)
    )  # not in src
    await refused(ErrorCode.NOT_FOUND, conv.shares.share(org, "alice", src, m.id, dst + "x", None))
    await refused(ErrorCode.NOT_FOUND, conv.shares.share("other", "bob", src, m.id, dst, None))


async def test_tasks(chat: Services, conv: Services, sink: RecordingSink, org: str) -> None:
    cid = await channel(chat, org)
    m = (await chat.messages.post_message(org, "alice", cid, "someone write the doc")).message
    sink.published.clear()
    task = await conv.tasks.create_task(
        org,
        "alice",
        cid,
        m.id,
        title=" Write doc ",
        assignee="bob",
        due="2026-12-01T10:00:00+02:00",
    )
    assert (task.title, task.assignee, task.message_seq) == ("Write doc", "bob", m.seq)
    assert task.due_at is not None and task.due_at.isoformat() == "2026-12-01T08:00:00+00:00"
    assert sink.published == [(f"events.{org}.tasks.task.created.{task.id}", sink.published[0][1])]
    assert sink.published[0][1]["due_at"] == "2026-12-01T08:00:00.000000Z"
    assert log(sink, cid)[-1][1] == "task_created"
    await refused(ErrorCode.FORBIDDEN, conv.tasks.complete_task(org, "carol", task.id))
    await refused(ErrorCode.NOT_FOUND, conv.tasks.complete_task(org, "eve", task.id))
    await refused(ErrorCode.NOT_FOUND, conv.tasks.task("other", "bob", task.id))
    done = await conv.tasks.complete_task(org, "bob", task.id)
    assert done.completed_by == "bob" and done.completed_at is not None
    again = await conv.tasks.complete_task(org, "alice", task.id)
    assert again.completed_by == "bob"
    assert [t for t, _ in sink.published][1:] == [f"events.{org}.tasks.task.completed.{task.id}"]
    assert [e for _, e in log(sink, cid)[-2:]] == ["task_created", "task_completed"]
    assert [t.id for t in await conv.tasks.tasks(org, "bob", limit=None)] == [task.id]
    assert await conv.tasks.tasks(org, "carol", limit=None) == []
    bad: list[tuple[str, str | None, str | None]] = [
        ("", None, None),
        ("t", "eve", None),  # not a member of the channel
        ("t", None, "next tuesday"),
    ]
    for title, assignee, due in bad:
        await refused(
            ErrorCode.BAD_REQUEST,
            conv.tasks.create_task(
                org, "alice", cid, m.id, title=title, assignee=assignee, due=due
            ),
        )
    await refused(
        ErrorCode.NOT_FOUND,
        conv.tasks.create_task(org, "eve", cid, m.id, title="t", assignee=None, due=None),
    )


async def test_a_completed_stream_notifies_its_mentions(
    chat: Services, conv: Services, sink: RecordingSink, org: str
) -> None:
    cid = await channel(chat, org)
    bot = Claims(sub="bot", org=org, exp=2e9, roles=("service",))
    s = await chat.streams.open_stream(bot, cid)
    await chat.streams.append_stream(bot, cid, s["stream_id"], "done, @carol", None)
    sink.published.clear()
    await chat.streams.complete_stream(bot, cid, s["stream_id"])
    await chat.streams.complete_stream(bot, cid, s["stream_id"])  # a retry notifies no one again
    assert [t for t, _ in sink.published] == [f"events.{org}.users.user.mentioned.carol"]
