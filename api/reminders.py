"""Reminders (docs/automation.md): ``/v1/channels/{id}/messages/{message_id}/reminders``,
``/v1/reminders``."""

from __future__ import annotations

from quart_schema import tag_blueprint, validate_querystring, validate_request, validate_response

from parley.api.blueprints import authenticated_blueprint
from parley.api.deps import claims, services
from parley.api.schemas import Body, ErrorOut, Out, PageQuery, Timestamp
from parley.core.times import rfc3339
from parley.domain.reminders import Reminder


class ReminderIn(Body):
    """Exactly one of ``at``, ``in_seconds``, ``tomorrow_at`` (+ ``tz``)."""

    #: RFC 3339; no offset means UTC.
    at: str | None = None
    in_seconds: int | float | None = None
    #: ``"HH:MM"`` tomorrow in ``tz`` (an IANA zone such as ``Europe/Paris``; UTC if absent).
    tomorrow_at: str | None = None
    tz: str | None = None
    note: str | None = None


class ReminderOut(Out):
    id: str
    #: ``message`` or ``task`` (a task's due time).
    kind: str
    channel: str
    message_id: str | None = None
    task_id: str | None = None
    note: str | None = None
    remind_at: Timestamp
    #: ``pending``, ``fired`` or ``cancelled``.
    state: str
    created_at: Timestamp

    @classmethod
    def of(cls, r: Reminder) -> ReminderOut:
        return cls(
            id=r.id,
            kind=r.kind,
            channel=r.channel_id,
            message_id=r.message_id,
            task_id=r.task_id,
            note=r.note,
            remind_at=rfc3339(r.remind_at),
            state=r.state,
            created_at=rfc3339(r.created_at),
        )


class ReminderListOut(Out):
    items: list[ReminderOut]


class ReminderQuery(PageQuery):
    #: Only those still waiting.
    pending: bool = False


bp = authenticated_blueprint("reminders", __name__)
tag_blueprint(bp, ["reminders"])


@bp.post("/channels/<channel_id>/messages/<message_id>/reminders")
@validate_request(ReminderIn)
@validate_response(ReminderOut, 201)
@validate_response(ErrorOut, 400)
@validate_response(ErrorOut, 404)
async def create_reminder(
    channel_id: str, message_id: str, data: ReminderIn
) -> tuple[ReminderOut, int]:
    """Remind me of this message then (pushed on my reminder topic, and notified)."""
    fields = {"at": data.at, "in_seconds": data.in_seconds}
    fields |= {"tomorrow_at": data.tomorrow_at, "tz": data.tz}
    r = await services().reminders.remind_message(
        claims(), channel_id, message_id, note=data.note, when_=fields
    )
    return ReminderOut.of(r), 201


@bp.get("/reminders")
@validate_querystring(ReminderQuery)
@validate_response(ReminderListOut)
async def list_reminders(query_args: ReminderQuery) -> ReminderListOut:
    """My reminders (messages and tasks due), soonest first."""
    items = await services().reminders.reminders(
        claims(), pending_only=query_args.pending, limit=query_args.limit
    )
    return ReminderListOut(items=[ReminderOut.of(r) for r in items])


@bp.delete("/reminders/<rid>")
@validate_response(ReminderOut)
@validate_response(ErrorOut, 409)
async def cancel_reminder(rid: str) -> ReminderOut:
    """Cancel a reminder that has not fired (409 after)."""
    return ReminderOut.of(await services().reminders.cancel(claims(), rid))
