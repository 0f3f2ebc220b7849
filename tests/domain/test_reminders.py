"""Reminders on messages and tasks' due times, on a real store (SQLite and PostgreSQL):
pushed on the user's own topic and handed to the notify port once."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from parley.core.claims import Claims
from parley.core.codes import ErrorCode
from parley.core.ports import Notice
from parley.core.times import rfc3339
from parley.domain.services import Services
from tests.support.api import RecordingSink
from tests.support.features import channel, refused


def user(sub: str, org: str) -> Claims:
    return Claims(sub, org, exp=2e9)


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def wire(svc: Services) -> tuple[Clock, list[Notice]]:
    clock = Clock()
    svc.jobs.clock = clock
    notices: list[Notice] = []

    async def notify(n: Notice) -> None:
        notices.append(n)

    svc.reminders.notify = notify
    return clock, notices


def pushed(sink: RecordingSink, kind: str) -> list[tuple[str, dict[str, object]]]:
    return [(t, d) for t, d in sink.published if f".users.user.{kind}." in t]


async def test_a_message_reminder_fires_once_on_my_topic_and_notifies(
    svc: Services, sink: RecordingSink, org: str
) -> None:
    clock, notices = wire(svc)
    cid = await channel(svc, org)
    m = (await svc.messages.post_message(org, "alice", cid, "ship it friday")).message
    bob = user("bob", org)
    r = await svc.reminders.remind_message(
        bob, cid, m.id, note="check the release", when_={"in_seconds": 3600}
    )
    assert r.state == "pending" and r.kind == "message"
    clock.now += 3599
    assert await svc.jobs.run_due() == 0 and pushed(sink, "reminder") == []
    clock.now += 2
    assert await svc.jobs.run_due() == 1
    [(topic, data)] = pushed(sink, "reminder")
    assert topic == f"events.{org}.users.user.reminder.bob"
    assert data["id"] == r.id and data["message_id"] == m.id and data["text"] == "ship it friday"
    assert data["note"] == "check the release" and data["state"] == "fired"
    assert [(n.user_id, n.type, n.key, n.link) for n in notices] == [
        ("bob", "reminder", f"reminder:{r.id}", {"channel": cid, "message_id": m.id})
    ]
    assert [
        x.state for x in await svc.reminders.reminders(bob, pending_only=False, limit=None)
    ] == ["fired"]
    assert await svc.reminders.reminders(bob, pending_only=True, limit=None) == []
    await refused(ErrorCode.CONFLICT, svc.reminders.cancel(bob, r.id))
    clock.now += 86400
    assert await svc.jobs.run_due() == 0
    assert len(pushed(sink, "reminder")) == 1 and len(notices) == 1


async def test_tomorrow_at_nine_in_my_time_zone(svc: Services, org: str) -> None:
    clock, _ = wire(svc)
    clock.now = datetime(2026, 3, 28, 23, 30, tzinfo=UTC).timestamp()  # DST starts on the 29th
    cid = await channel(svc, org)
    m = (await svc.messages.post_message(org, "alice", cid, "hi")).message
    r = await svc.reminders.remind_message(
        user("bob", org),
        cid,
        m.id,
        note=None,
        when_={"tomorrow_at": "09:00", "tz": "Europe/Paris"},
    )
    # 23:30 UTC is already the 29th in Paris (00:30, CET); tomorrow 09:00 CEST is 07:00Z.
    assert rfc3339(r.remind_at) == "2026-03-30T07:00:00.000000Z"


async def test_a_reminder_i_can_no_longer_read_is_cancelled_not_fired(
    svc: Services, sink: RecordingSink, org: str
) -> None:
    clock, notices = wire(svc)
    cid = await channel(svc, org)
    m = (await svc.messages.post_message(org, "alice", cid, "secret plan")).message
    r = await svc.reminders.remind_message(
        user("bob", org), cid, m.id, note=None, when_={"in_seconds": 60}
    )
    await svc.members.remove_member(org, "alice", cid, "bob")
    clock.now += 61
    assert await svc.jobs.run_due() == 1
    assert pushed(sink, "reminder") == [] and notices == []
    [gone] = await svc.reminders.reminders(user("bob", org), pending_only=False, limit=None)
    assert gone.id == r.id and gone.state == "cancelled"


async def test_a_task_due_reminds_its_assignee_unless_completed(
    svc: Services, sink: RecordingSink, org: str
) -> None:
    clock, notices = wire(svc)
    cid = await channel(svc, org)
    m = (await svc.messages.post_message(org, "alice", cid, "report")).message
    due = rfc3339(datetime.fromtimestamp(clock.now + 7200, UTC))
    t1 = await svc.tasks.create_task(
        org, "alice", cid, m.id, title="Write the report", assignee="bob", due=due
    )
    t2 = await svc.tasks.create_task(
        org, "alice", cid, m.id, title="Done early", assignee="carol", due=due
    )
    await svc.tasks.create_task(org, "alice", cid, m.id, title="no due", assignee=None, due=None)
    await svc.tasks.complete_task(org, "carol", t2.id)
    [r] = await svc.reminders.reminders(user("bob", org), pending_only=True, limit=None)
    assert r.kind == "task" and r.task_id == t1.id
    clock.now += 7201
    assert await svc.jobs.run_due() == 2
    [(topic, data)] = pushed(sink, "task_due")
    assert topic == f"events.{org}.users.user.task_due.bob"
    task = data["task"]
    assert isinstance(task, dict) and task["id"] == t1.id
    assert [(n.user_id, n.type, n.title) for n in notices] == [
        ("bob", "task_due", "Task due: Write the report")
    ]
    [cancelled] = await svc.reminders.reminders(user("carol", org), pending_only=False, limit=None)
    assert cancelled.state == "cancelled"


async def test_bad_input_and_strangers(svc: Services, org: str) -> None:
    clock, _ = wire(svc)
    cid = await channel(svc, org)
    m = (await svc.messages.post_message(org, "alice", cid, "hi")).message
    bob = user("bob", org)
    r = svc.reminders
    for when_ in ({}, {"in_seconds": 0}, {"at": "2000-01-01T00:00:00Z"}, {"tomorrow_at": "25:00"}):
        await refused(
            ErrorCode.BAD_REQUEST, r.remind_message(bob, cid, m.id, note=None, when_=when_)
        )
    soon = {"in_seconds": 60}
    await refused(
        ErrorCode.NOT_FOUND, r.remind_message(bob, cid, "msg_nope", note=None, when_=soon)
    )
    for stranger in (user("dave", org), user("bob", org + "x")):
        await refused(
            ErrorCode.NOT_FOUND, r.remind_message(stranger, cid, m.id, note=None, when_=soon)
        )
    mine = await r.remind_message(bob, cid, m.id, note=None, when_=soon)
    await refused(ErrorCode.NOT_FOUND, r.cancel(user("alice", org), mine.id))
    await refused(ErrorCode.NOT_FOUND, r.cancel(bob, "rem_nope"))
    assert (await r.cancel(bob, mine.id)).state == "cancelled"
    clock.now += 120
    assert await svc.jobs.run_due() == 0


async def test_a_fired_reminder_is_a_notification_in_my_inbox(
    svc: Services, sink: RecordingSink, org: str
) -> None:
    """As the composition root wires it, a reminder that fires reaches the notification
    service: one ``reminder`` notification in its owner's inbox, pushed live, none for
    anyone else."""
    clock = Clock()
    svc.jobs.clock = clock
    cid = await channel(svc, org)
    m = (await svc.messages.post_message(org, "alice", cid, "ship it friday")).message
    r = await svc.reminders.remind_message(
        user("bob", org), cid, m.id, note="check the release", when_={"in_seconds": 60}
    )
    clock.now += 61
    assert await svc.jobs.run_due() == 1
    rows, _ = await svc.notify.service.inbox(org, "bob", limit=None, cursor=None)
    assert [(n.type, n.link, n.source) for n in rows] == [
        (
            "reminder",
            {"channel": cid, "message": m.id},
            {"kind": "reminder", "key": f"reminder:{r.id}"},
        )
    ]
    assert [t for t, _ in sink.published if ".notification.created." in t] == [
        f"events.{org}.users.notification.created.bob"
    ]
    assert await svc.notify.service.inbox(org, "alice", limit=None, cursor=None) == ([], None)
