"""Scheduled messages ("send later", docs/automation.md): written with their job in one
transaction, editable and cancellable while the job waits, and posted once at their time
through the one post pipeline (:class:`Poster`), with the author's access checked again
then, as for any post.

Exactly once: the post carries the idempotency key ``scheduled:{id}``, so a job that runs
again (its node died after posting, before marking it sent) finds the message it already
posted instead of posting a second one.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from parley.core.claims import Claims
from parley.core.errors import ClientError
from parley.core.records import Draft
from parley.domain import access, content, rules, when
from parley.domain.jobs import JobScheduler
from parley.domain.posting import Poster
from parley.store import Store, sql
from parley.store.sql.jobs import Job
from parley.store.sql.scheduled import JOB_KIND, SCHEDULED
from parley.store.sql.scheduled import ScheduledMessage as ScheduledMessage  # the record

log = logging.getLogger("parley.scheduled")

#: Scheduled messages one user may have waiting.
MAX_PENDING_PER_USER = 1000


def idempotency_key(sid: str) -> str:
    return f"scheduled:{sid}"


class ScheduledMessageService:
    def __init__(self, store: Store, poster: Poster, jobs: JobScheduler) -> None:
        self.store = store
        self.poster = poster
        self.jobs = jobs
        jobs.register(JOB_KIND, self.send)

    def _when(self, data: Mapping[str, object]) -> int:
        at = when.from_fields(self.jobs.clock(), data, at_key="send_at")
        return int(at * 1_000_000)

    async def create(
        self, caller: Claims, channel_id: str, text: object, when_: Mapping[str, object]
    ) -> ScheduledMessage:
        """The caller must be a member now (and is checked again when it is sent)."""
        checked = content.check_rich_text(rules.check_text(text))
        send_at_us = self._when(when_)
        await access.membership(self.store, caller.org, caller.sub, channel_id)
        mine = await self.store.read(
            sql.scheduled.list_of,
            caller.org,
            caller.sub,
            channel_id=None,
            limit=MAX_PENDING_PER_USER + 1,
        )
        if sum(1 for s in mine if s.state == SCHEDULED) >= MAX_PENDING_PER_USER:
            raise rules.bad(f"at most {MAX_PENDING_PER_USER} scheduled messages may wait")
        created = await self.store.write(
            sql.scheduled.create,
            caller.org,
            channel_id,
            caller.sub,
            checked,
            send_at_us=send_at_us,
            now_us=self.jobs.now_us(),
        )
        self.jobs.wake(send_at_us / 1_000_000)
        return created

    async def get(self, caller: Claims, sid: str) -> ScheduledMessage:
        found = None
        if rules.is_clean(sid):
            found = await self.store.read(sql.scheduled.get, caller.org, sid)
        if found is None or found.author != caller.sub:
            raise access.not_found("scheduled message")
        return found

    async def list(
        self, caller: Claims, *, channel_id: str | None, limit: int | None
    ) -> list[ScheduledMessage]:
        n = rules.check_limit(limit, cap=rules.MAX_PAGE_LIMIT)
        if channel_id is not None:
            await access.membership(self.store, caller.org, caller.sub, channel_id)
        return await self.store.read(
            sql.scheduled.list_of, caller.org, caller.sub, channel_id=channel_id, limit=n
        )

    async def edit(
        self, caller: Claims, sid: str, *, text: object, when_: Mapping[str, object]
    ) -> ScheduledMessage:
        await self.get(caller, sid)
        checked = None if text is None else content.check_rich_text(rules.check_text(text))
        send_at_us = self._when(when_) if any(v is not None for v in when_.values()) else None
        async with access.store_errors("scheduled message"):
            edited = await self.store.write(
                sql.scheduled.update,
                caller.org,
                sid,
                caller.sub,
                text=checked,
                send_at_us=send_at_us,
                now_us=self.jobs.now_us(),
            )
        self.jobs.wake(edited.send_at.timestamp())
        return edited

    async def cancel(self, caller: Claims, sid: str) -> ScheduledMessage:
        await self.get(caller, sid)
        async with access.store_errors("scheduled message"):
            return await self.store.write(
                sql.scheduled.cancel, caller.org, sid, caller.sub, now_us=self.jobs.now_us()
            )

    async def send(self, job: Job) -> None:
        """The job handler: post it (once), then record what happened."""
        found = await self.store.read(sql.scheduled.get, job.org, job.key)
        if found is None or found.state != SCHEDULED:
            return  # cancelled, or settled by an earlier run
        draft = Draft(
            found.org,
            found.channel_id,
            found.author,
            found.text,
            idempotency_key=idempotency_key(found.id),
        )
        now_us = self.jobs.now_us()
        try:
            result = await self.poster.post(draft)
        except ClientError as exc:  # no longer a member, channel gone, broadcast...
            log.info("scheduled message %s not sent: %s", found.id, exc.message)
            await self.store.write(
                sql.scheduled.mark_failed, found.org, found.id, exc.message, now_us=now_us
            )
            return
        await self.store.write(
            sql.scheduled.mark_sent, found.org, found.id, result.message.id, now_us=now_us
        )
