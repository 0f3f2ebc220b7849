"""Threads: replies, the timeline, thread unread counts."""

from __future__ import annotations

from parley.core.codes import ErrorCode
from parley.domain.services import Services
from tests.support.api import RecordingSink
from tests.support.features import channel, refused


async def test_threads_timeline_and_unread(svc: Services, sink: RecordingSink, org: str) -> None:
    cid = await channel(svc, org)
    root = (await svc.messages.post_message(org, "alice", cid, "plan?")).message
    r1 = await svc.threads.reply(org, "bob", cid, root.id, "A")
    r2 = await svc.threads.reply(org, "carol", cid, r1.message.id, "B", also_in_channel=True)
    await svc.messages.post_message(org, "bob", cid, "unrelated")
    ev = next(e for e in sink.channel_events if e.seq == r2.message.seq and e.channel_id == cid)
    assert ev.data["thread_root"] == root.id and ev.data["also_in_channel"] is True
    items, _ = await svc.messages.timeline(org, "alice", cid, before=None, limit=None)
    assert [v.message.text for v in items] == ["unrelated", "B", "plan?"]
    summary = items[-1].thread
    assert summary is not None
    assert (summary.reply_count, summary.participants) == (2, ["bob", "carol"])
    assert summary.last_reply_at == r2.message.created_at
    t = await svc.threads.thread(org, "alice", cid, root.id, after=None, limit=None)
    assert [r.message.text for r in t.replies] == ["A", "B"] and t.unread == 2
    assert (await svc.threads.thread(org, "bob", cid, root.id, after=None, limit=None)).unread == 1
    assert (
        await svc.threads.read_thread(org, "alice", cid, root.id, r1.message.seq) == r1.message.seq
    )
    assert (
        await svc.threads.read_thread(org, "alice", cid, root.id, 1) == r1.message.seq
    )  # never back
    threads = await svc.threads.threads(org, "alice", cid, limit=None)
    assert [(v.message.id, n) for v, n in threads] == [(root.id, 1)]
    page, nxt = await svc.messages.timeline(org, "alice", cid, before=None, limit=1)
    assert len(page) == 1 and nxt == page[0].message.seq
    await refused(
        ErrorCode.NOT_FOUND,
        svc.threads.thread(org, "alice", cid, r1.message.id, after=None, limit=None),
    )
    await refused(ErrorCode.NOT_FOUND, svc.threads.reply(org, "bob", cid, "msg_nope", "x"))
    await refused(ErrorCode.NOT_FOUND, svc.threads.reply(org, "eve", cid, root.id, "x"))
    await refused(ErrorCode.BAD_REQUEST, svc.threads.reply(org, "bob", cid, root.id, "```py\nopen"))
