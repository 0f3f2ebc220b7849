"""Tasks: create, read, complete, and who may."""

from __future__ import annotations

from parley.core.codes import ErrorCode
from parley.domain.services import Services
from tests.support.api import RecordingSink
from tests.support.features import channel, log, refused


async def test_tasks(svc: Services, sink: RecordingSink, org: str) -> None:
    cid = await channel(svc, org)
    m = (await svc.messages.post_message(org, "alice", cid, "someone write the doc")).message
    sink.published.clear()
    sink.audiences.clear()
    task = await svc.tasks.create_task(
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
    await refused(ErrorCode.FORBIDDEN, svc.tasks.complete_task(org, "carol", task.id))
    await refused(ErrorCode.NOT_FOUND, svc.tasks.complete_task(org, "eve", task.id))
    await refused(ErrorCode.NOT_FOUND, svc.tasks.task("other", "bob", task.id))
    done = await svc.tasks.complete_task(org, "bob", task.id)
    assert done.completed_by == "bob" and done.completed_at is not None
    again = await svc.tasks.complete_task(org, "alice", task.id)
    assert again.completed_by == "bob"
    assert [t for t, _ in sink.published][1:] == [f"events.{org}.tasks.task.completed.{task.id}"]
    assert sink.audiences == [cid, cid]  # pushed to the task channel's members only
    assert [e for _, e in log(sink, cid)[-2:]] == ["task_created", "task_completed"]
    assert [t.id for t in await svc.tasks.tasks(org, "bob", limit=None)] == [task.id]
    assert await svc.tasks.tasks(org, "carol", limit=None) == []
    bad: list[tuple[str, str | None, str | None]] = [
        ("", None, None),
        ("t", "eve", None),  # not a member of the channel
        ("t", None, "next tuesday"),
    ]
    for title, assignee, due in bad:
        await refused(
            ErrorCode.BAD_REQUEST,
            svc.tasks.create_task(org, "alice", cid, m.id, title=title, assignee=assignee, due=due),
        )
    await refused(
        ErrorCode.NOT_FOUND,
        svc.tasks.create_task(org, "eve", cid, m.id, title="t", assignee=None, due=None),
    )
