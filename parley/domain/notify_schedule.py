"""Notifications with a ``send_at`` in the future: the seam to a scheduler, and the
built-in one until the job scheduler takes over (docs/notifications.md, Scheduling).

:class:`SendLater` is the port: ``schedule(org, actor, request, send_at_us)`` keeps a
checked request and returns its id; whatever runs it when due calls
:meth:`NotificationService.send_request` with it exactly once. :class:`TableScheduler`
is the built-in implementation: a row in ``scheduled_notifications`` (state
``scheduled``), and one trio task (:meth:`run`) that claims due rows in one write (each
once, also with several nodes: ``SKIP LOCKED``) and sends them. A jobs service plugs in
by implementing :class:`SendLater` and calling ``send_request`` from its job handler.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

import trio

from parley.core.codes import ErrorCode
from parley.core.errors import ClientError, Unavailable
from parley.core.notifications import ScheduledNotification as Scheduled
from parley.domain import access, rules
from parley.domain.notifications import NotificationService
from parley.store import Store, sql

log = logging.getLogger("parley.notifications.schedule")

#: Due rows claimed per look.
CLAIM_LIMIT = 100


class SendLater(Protocol):
    async def schedule(
        self, org: str, actor: str, request: dict[str, Any], *, send_at_us: int
    ) -> Scheduled: ...

    async def cancel(self, org: str, actor: str, scheduled_id: str) -> None: ...

    async def get(self, org: str, scheduled_id: str) -> Scheduled: ...


class TableScheduler:
    def __init__(
        self, store: Store, notifications: NotificationService, *, interval: float = 5.0
    ) -> None:
        self.store = store
        self.notifications = notifications
        self.interval = interval
        self.sent = 0

    async def schedule(
        self, org: str, actor: str, request: dict[str, Any], *, send_at_us: int
    ) -> Scheduled:
        return await self.store.write(
            sql.notifications.add_scheduled,
            org,
            actor,
            request,
            send_at_us=send_at_us,
            now_us=self.notifications.now_us(),
        )

    async def get(self, org: str, scheduled_id: str) -> Scheduled:
        s = None
        if rules.is_clean(scheduled_id):
            s = await self.store.read(sql.notifications.get_scheduled, org, scheduled_id)
        if s is None:
            raise access.not_found("scheduled notification")
        return s

    async def cancel(self, org: str, actor: str, scheduled_id: str) -> None:
        await self.get(org, scheduled_id)
        if not await self.store.write(sql.notifications.cancel_scheduled, org, scheduled_id):
            raise ClientError(ErrorCode.CONFLICT, "already sent or cancelled")

    async def run(self) -> None:
        while True:
            try:
                await self.run_due()
            except Unavailable:
                pass  # the store logs the outage once; the next look retries
            except Exception:  # the next look retries; never take the server down
                log.exception("scheduled notifications failed")
            await trio.sleep(self.interval)

    async def run_due(self) -> int:
        """Send every scheduled notification due now; return how many requests."""
        n = 0
        while True:
            due = await self.store.write(
                sql.notifications.claim_due_scheduled,
                now_us=self.notifications.now_us(),
                limit=CLAIM_LIMIT,
            )
            for s in due:
                sent = await self.notifications.send_request(
                    s.org, s.created_by, s.request, source={"kind": "service", "scheduled": s.id}
                )
                await self.store.write(sql.notifications.set_sent_count, s.id, len(sent))
                n += 1
                self.sent += 1
            if len(due) < CLAIM_LIMIT:
                return n
