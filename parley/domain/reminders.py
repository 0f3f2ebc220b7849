"""Reminders (docs/automation.md): "remind me about this message in 1 h / tomorrow at
9:00" (in the user's time zone), and a task's due time for its assignee (or, with none,
its creator). When its job fires, a reminder is pushed on the user's own topic
(``events.{org}.users.user.reminder.{user}`` / ``...user.task_due.{user}``) and handed
to the notification service through the :data:`~parley.core.ports.Notify` port.

A reminder about a message the user can no longer read (left the channel, message
deleted), or a task completed before it is due, is cancelled instead of firing.

Effects of a run, in order: notify (idempotent by the key ``reminder:{id}``), push, then
mark fired. A node dying between the push and the mark makes the job run again: the
notification is stored once, the live push may repeat (same ``id``, clients dedupe).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from parley.core.claims import Claims
from parley.core.ports import EventSink, Notice, Notify
from parley.core.records import Task, task_data
from parley.core.times import rfc3339
from parley.core.topics import is_segment, reminder_topic, task_due_topic
from parley.domain import access, content, rules, when
from parley.domain.jobs import JobScheduler
from parley.store import Store, sql
from parley.store.sql.jobs import Job
from parley.store.sql.reminders import (
    CANCELLED,
    FIRED,
    JOB_KIND,
    MESSAGE,
    PENDING,
    TASK,
)
from parley.store.sql.reminders import Reminder as Reminder  # the record

SNIPPET_CHARS = 200


def reminder_data(r: Reminder) -> dict[str, Any]:
    return {
        "id": r.id,
        "kind": r.kind,
        "channel": r.channel_id,
        "message_id": r.message_id,
        "task_id": r.task_id,
        "note": r.note,
        "remind_at": rfc3339(r.remind_at),
        "state": r.state,
        "created_at": rfc3339(r.created_at),
    }


class ReminderService:
    def __init__(
        self, store: Store, sink: EventSink, jobs: JobScheduler, notify: Notify | None = None
    ) -> None:
        self.store = store
        self.sink = sink
        self.jobs = jobs
        #: The notification service's intake; set by the composition root when it exists.
        self.notify = notify
        jobs.register(JOB_KIND, self.fire)

    async def remind_message(
        self,
        caller: Claims,
        channel_id: str,
        message_id: str,
        *,
        note: str | None,
        when_: Mapping[str, object],
    ) -> Reminder:
        note = content.check_note(note)
        at = when.from_fields(self.jobs.clock(), when_)
        await access.membership(self.store, caller.org, caller.sub, channel_id)
        await access.message(self.store, caller.org, channel_id, message_id)
        r = await self.store.write(
            sql.reminders.create,
            caller.org,
            caller.sub,
            kind=MESSAGE,
            channel_id=channel_id,
            message_id=message_id,
            note=note,
            remind_at_us=int(at * 1_000_000),
            now_us=self.jobs.now_us(),
        )
        self.jobs.wake(at)
        return r

    async def task_created(self, task: Task) -> None:
        """A task hook: a task with a due time in the future gets its due reminder."""
        if task.due_at is None or task.due_at.timestamp() <= self.jobs.clock():
            return
        at = task.due_at.timestamp()
        await self.store.write(
            sql.reminders.create,
            task.org,
            task.assignee or task.created_by,
            kind=TASK,
            channel_id=task.channel_id,
            task_id=task.id,
            remind_at_us=int(at * 1_000_000),
            now_us=self.jobs.now_us(),
        )
        self.jobs.wake(at)

    async def reminders(
        self, caller: Claims, *, pending_only: bool, limit: int | None
    ) -> list[Reminder]:
        n = rules.check_limit(limit, cap=rules.MAX_PAGE_LIMIT)
        return await self.store.read(
            sql.reminders.list_of, caller.org, caller.sub, pending_only=pending_only, limit=n
        )

    async def cancel(self, caller: Claims, rid: str) -> Reminder:
        if not rules.is_clean(rid):
            raise access.not_found("reminder")
        async with access.store_errors("reminder"):
            return await self.store.write(
                sql.reminders.cancel, caller.org, rid, caller.sub, now_us=self.jobs.now_us()
            )

    async def fire(self, job: Job) -> None:
        """The job handler."""
        r = await self.store.read(sql.reminders.get, job.org, job.key)
        if r is None or r.state != PENDING:
            return
        what = await self._about(r)
        if what is None:  # no longer readable, or the task is done
            await self.store.write(sql.reminders.settle, r.org, r.id, CANCELLED)
            return
        topic, data, notice = what
        if self.notify is not None:
            await self.notify(notice)
        if is_segment(r.user_id):
            self.sink.publish(topic, data)
        await self.store.write(sql.reminders.settle, r.org, r.id, FIRED)

    async def _about(self, r: Reminder) -> tuple[str, dict[str, Any], Notice] | None:
        if not await access.is_member(self.store, r.org, r.channel_id, r.user_id):
            return None
        data = reminder_data(r) | {"state": FIRED}
        if r.kind == TASK:
            task = (
                None
                if r.task_id is None
                else await self.store.read(sql.tasks.get_task, r.org, r.task_id)
            )
            if task is None or task.completed_at is not None:
                return None
            data["task"] = task_data(task)
            notice = Notice(
                r.org,
                r.user_id,
                "task_due",
                f"Task due: {task.title}",
                task.title,
                {"channel": r.channel_id, "task_id": task.id, "message_id": task.message_id},
                key=f"reminder:{r.id}",
            )
            return task_due_topic(r.org, r.user_id), data, notice
        assert r.message_id is not None
        msg = await self.store.read(sql.messages.get_message, r.org, r.channel_id, r.message_id)
        if msg is None or msg.deleted:
            return None
        data["author"] = msg.author
        data["text"] = msg.text[:SNIPPET_CHARS]
        notice = Notice(
            r.org,
            r.user_id,
            "reminder",
            r.note or "Reminder",
            msg.text[:SNIPPET_CHARS],
            {"channel": r.channel_id, "message_id": msg.id},
            key=f"reminder:{r.id}",
        )
        return reminder_topic(r.org, r.user_id), data, notice
