"""Scheduled messages ("send later", docs/automation.md):
``/v1/channels/{id}/scheduled-messages``, ``/v1/scheduled-messages/{id}``."""

from __future__ import annotations

from quart_schema import tag_blueprint, validate_querystring, validate_request, validate_response

from parley.api.blueprints import authenticated_blueprint
from parley.api.deps import claims, services
from parley.api.schemas import Body, ErrorOut, Out, PageQuery, Timestamp
from parley.core.times import rfc3339
from parley.domain.scheduled import ScheduledMessage


class WhenIn(Body):
    """Exactly one of ``send_at``, ``in_seconds``, ``tomorrow_at`` (+ ``tz``)."""

    #: RFC 3339; no offset means UTC.
    send_at: str | None = None
    in_seconds: int | float | None = None
    #: ``"HH:MM"`` tomorrow in ``tz`` (an IANA zone such as ``Europe/Paris``; UTC if absent).
    tomorrow_at: str | None = None
    tz: str | None = None

    def when(self) -> dict[str, object]:
        return {
            "send_at": self.send_at,
            "in_seconds": self.in_seconds,
            "tomorrow_at": self.tomorrow_at,
            "tz": self.tz,
        }


class ScheduleIn(WhenIn):
    text: str


class ScheduleEditIn(WhenIn):
    text: str | None = None


class ScheduledOut(Out):
    id: str
    channel: str
    author: str
    text: str
    send_at: Timestamp
    #: ``scheduled``, ``sent``, ``cancelled`` or ``failed``.
    state: str
    #: The posted message, once sent.
    message_id: str | None = None
    #: Why it was not sent (``failed``), e.g. the author left the channel.
    error: str | None = None
    created_at: Timestamp
    updated_at: Timestamp

    @classmethod
    def of(cls, s: ScheduledMessage) -> ScheduledOut:
        return cls(
            id=s.id,
            channel=s.channel_id,
            author=s.author,
            text=s.text,
            send_at=rfc3339(s.send_at),
            state=s.state,
            message_id=s.message_id,
            error=s.error,
            created_at=rfc3339(s.created_at),
            updated_at=rfc3339(s.updated_at),
        )


class ScheduledListOut(Out):
    items: list[ScheduledOut]


bp = authenticated_blueprint("scheduled", __name__)
tag_blueprint(bp, ["scheduled messages"])


@bp.post("/channels/<channel_id>/scheduled-messages")
@validate_request(ScheduleIn)
@validate_response(ScheduledOut, 201)
@validate_response(ErrorOut, 400)
@validate_response(ErrorOut, 404)
async def create_scheduled(channel_id: str, data: ScheduleIn) -> tuple[ScheduledOut, int]:
    """Post ``text`` in the channel later, once, if I may still post there then."""
    s = await services().scheduled.create(claims(), channel_id, data.text, data.when())
    return ScheduledOut.of(s), 201


@bp.get("/channels/<channel_id>/scheduled-messages")
@validate_querystring(PageQuery)
@validate_response(ScheduledListOut)
async def list_channel_scheduled(channel_id: str, query_args: PageQuery) -> ScheduledListOut:
    """My scheduled messages in this channel (every state), soonest first."""
    items = await services().scheduled.list(claims(), channel_id=channel_id, limit=query_args.limit)
    return ScheduledListOut(items=[ScheduledOut.of(s) for s in items])


@bp.get("/scheduled-messages")
@validate_querystring(PageQuery)
@validate_response(ScheduledListOut)
async def list_scheduled(query_args: PageQuery) -> ScheduledListOut:
    """All my scheduled messages (every state), soonest first."""
    items = await services().scheduled.list(claims(), channel_id=None, limit=query_args.limit)
    return ScheduledListOut(items=[ScheduledOut.of(s) for s in items])


@bp.get("/scheduled-messages/<sid>")
@validate_response(ScheduledOut)
@validate_response(ErrorOut, 404)
async def get_scheduled(sid: str) -> ScheduledOut:
    return ScheduledOut.of(await services().scheduled.get(claims(), sid))


@bp.patch("/scheduled-messages/<sid>")
@validate_request(ScheduleEditIn)
@validate_response(ScheduledOut)
@validate_response(ErrorOut, 409)
async def edit_scheduled(sid: str, data: ScheduleEditIn) -> ScheduledOut:
    """Change the text and/or the time while it waits (409 once it is being sent)."""
    s = await services().scheduled.edit(claims(), sid, text=data.text, when_=data.when())
    return ScheduledOut.of(s)


@bp.delete("/scheduled-messages/<sid>")
@validate_response(ScheduledOut)
@validate_response(ErrorOut, 409)
async def cancel_scheduled(sid: str) -> ScheduledOut:
    """Cancel it while it waits (409 once it is being sent or sent)."""
    return ScheduledOut.of(await services().scheduled.cancel(claims(), sid))
