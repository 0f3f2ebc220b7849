"""Tasks attached to messages: create (with an assignee who is a member), read (members of
the task's channel only), complete; pushed on ``events.{org}.tasks.task.{event}.{id}`` to
the members of the task's channel only, as the channel's own events."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime

from parley.core.ports import EventSink
from parley.core.records import Task, task_data
from parley.core.times import parse_ts
from parley.core.topics import task_topic
from parley.domain import access, content, rules
from parley.store import Store, sql


class TaskService:
    def __init__(
        self,
        store: Store,
        sink: EventSink,
        *,
        after_create: Callable[[Task], Awaitable[None]] | None = None,
    ) -> None:
        self.store = store
        self.sink = sink
        #: Run after a task is created (its due reminder, docs/automation.md).
        self.after_create = after_create

    async def create_task(
        self,
        org: str,
        user_id: str,
        channel_id: str,
        message_id: str,
        *,
        title: str,
        assignee: str | None,
        due: str | None,
    ) -> Task:
        title = content.check_title(title)
        due_at: datetime | None = None if due is None else parse_ts(due, what="due")
        await access.membership(self.store, org, user_id, channel_id)
        await access.message(self.store, org, channel_id, message_id)
        if assignee is not None:
            rules.check_user_id(assignee, "assignee")
            if not await access.is_member(self.store, org, channel_id, assignee):
                raise rules.bad("the assignee must be a member of the channel")
        async with access.store_errors("message"):
            task, _ = await self.store.write(
                sql.tasks.create_task,
                org,
                channel_id,
                message_id,
                title=title,
                assignee=assignee,
                due_at=due_at,
                created_by=user_id,
            )
        self.sink.publish(
            task_topic(org, "created", task.id), task_data(task), members_of=channel_id
        )
        if self.after_create is not None:
            await self.after_create(task)
        return task

    async def task(self, org: str, user_id: str, task_id: str) -> Task:
        """Visible to members of the task's channel."""
        t = None
        if rules.is_clean(task_id):
            t = await self.store.read(sql.tasks.get_task, org, task_id)
        if t is None or not await access.is_member(self.store, org, t.channel_id, user_id):
            raise access.not_found("task")
        return t

    async def complete_task(self, org: str, user_id: str, task_id: str) -> Task:
        """The assignee, the creator or a channel owner/admin completes (idempotent)."""
        t = await self.task(org, user_id, task_id)
        member = await self.store.read(sql.members.get_member, org, t.channel_id, user_id)
        if user_id not in (t.assignee, t.created_by) and not access.is_moderator(member):
            raise access.forbidden(
                "only the assignee, the creator or a channel owner/admin completes"
            )
        async with access.store_errors("task"):
            done, ev = await self.store.write(sql.tasks.complete_task, org, task_id, user_id)
        if ev is not None:
            self.sink.publish(
                task_topic(org, "completed", done.id), task_data(done), members_of=done.channel_id
            )
        return done

    async def tasks(self, org: str, user_id: str, *, limit: int | None) -> list[Task]:
        n = rules.check_limit(limit, cap=rules.MAX_PAGE_LIMIT)
        return await self.store.read(sql.tasks.list_tasks, org, user_id, limit=n)
