"""The inbox (``/v1/notifications``: list, unread count, marks), services' notifications
(``POST /v1/notifications``, ``:batch``, scheduled ones), and the emails' one-click
unsubscribe (``/v1/notifications/unsubscribe``, no token: the link is the credential).
See docs/notifications.md."""

from __future__ import annotations

import html
from typing import Any, Literal
from urllib.parse import quote

from pydantic import Field, JsonValue
from quart import Blueprint, Response
from quart_schema import tag_blueprint, validate_querystring, validate_request, validate_response

from parley.api.blueprints import authenticated_blueprint
from parley.api.deps import claims, services
from parley.api.schemas import Body, ErrorOut, Out, Query, Timestamp
from parley.core.codes import ErrorCode
from parley.core.errors import ClientError
from parley.core.notifications import Notification, ScheduledNotification
from parley.core.times import parse_ts, rfc3339
from parley.domain.notifications import MAX_BATCH, notification_data
from parley.domain.notify_email import check_unsubscribe_token

bp = authenticated_blueprint("notifications", __name__)
tag_blueprint(bp, ["notifications"])


class DeliveryOut(Out):
    #: Always ``delivered`` (the inbox row and the live push).
    in_app: str
    #: ``none`` (not asked), ``pending``, ``sent``, ``skipped`` (no subscription) or ``failed``.
    push: str
    #: ``none``, ``pending`` (waiting out the delay), ``sending``, ``sent``, ``skipped``
    #: (read first, no address, unsubscribed) or ``failed``.
    email: str


class NotificationOut(Out):
    id: str
    type: str
    priority: str
    title: str
    body: str
    #: Any of ``channel``, ``message``, ``thread``, ``url``.
    link: dict[str, str]
    actor: str | None = None
    #: What made it: ``{"kind": "message" | "rule" | "service" | "task" | "reaction", ...}``.
    source: dict[str, JsonValue]
    created_at: Timestamp
    seen_at: Timestamp | None = None
    read_at: Timestamp | None = None
    archived_at: Timestamp | None = None
    delivery: DeliveryOut

    @classmethod
    def of(cls, n: Notification) -> NotificationOut:
        return cls.model_validate(notification_data(n))


class InboxQuery(Query):
    limit: int | None = None
    #: ``next_cursor`` of the previous page.
    cursor: str | None = None
    unread: bool = False
    #: ``false`` (default): the inbox; ``true``: archived ones only; ``all``: both.
    archived: Literal["false", "true", "all"] = "false"
    type: str | None = None
    priority: str | None = None
    channel: str | None = None
    #: RFC 3339: created at or after / before.
    since: str | None = None
    until: str | None = None


class InboxOut(Out):
    items: list[NotificationOut]
    next_cursor: str | None = None
    #: Unread (and not archived) notifications in the whole inbox.
    unread: int


class UnreadOut(Out):
    unread: int


class MarkIn(Body):
    state: Literal["seen", "read", "archived"]
    #: These notifications...
    ids: list[str] | None = None
    #: ...or every notification up to and including this id (e.g. the newest one shown).
    up_to: str | None = None
    #: ``false``: mark unread / unarchive / unseen (``ids`` only).
    on: bool = True


class MarkOut(Out):
    #: The ids whose state changed (also pushed to the user's other devices).
    changed: list[str]
    unread: int


class RecipientsIn(Body):
    users: list[str] = Field(default_factory=list)
    #: Team names.
    teams: list[str] = Field(default_factory=list)
    #: Every member of this channel.
    channel: str | None = None


class NotificationIn(Body):
    recipients: RecipientsIn
    #: ``mention``, ``task_due``... or a type of your own (``deploy.failed``).
    type: str = "service"
    priority: Literal["low", "normal", "high", "urgent"] = "normal"
    title: str
    #: Plain text.
    body: str = ""
    link: dict[str, str] | None = None
    #: RFC 3339; in the future: kept and sent then.
    send_at: str | None = None


class BatchIn(Body):
    notifications: list[NotificationIn]


class SentOut(Out):
    #: ``sent`` now, or ``scheduled`` (see ``scheduled``).
    state: str
    #: Notifications created (recipients whose preferences let it through).
    count: int
    ids: list[str]
    scheduled: ScheduledOut | None = None


class ScheduledOut(Out):
    id: str
    state: str
    send_at: Timestamp
    created_at: Timestamp
    created_by: str
    #: Notifications created when it was sent.
    sent_count: int | None = None

    @classmethod
    def of(cls, s: ScheduledNotification) -> ScheduledOut:
        return cls(
            id=s.id,
            state=s.state,
            send_at=rfc3339(s.send_at),
            created_at=rfc3339(s.created_at),
            created_by=s.created_by,
            sent_count=s.sent_count,
        )


SentOut.model_rebuild()


class BatchOut(Out):
    results: list[SentOut]


def _payload(data: NotificationIn) -> dict[str, Any]:
    body = data.model_dump(exclude_unset=True)
    body["recipients"] = data.recipients.model_dump(exclude_unset=True)
    return body


async def _send(data: NotificationIn) -> SentOut:
    c = claims()
    svc = services().notify
    req = await svc.service.check_request(c, _payload(data))
    return await _dispatch(req)


async def _dispatch(req: dict[str, Any]) -> SentOut:
    c = claims()
    svc = services().notify
    send_at = req.pop("send_at", None)
    if send_at is not None:
        at_us = int(parse_ts(send_at).timestamp() * 1_000_000)
        if at_us > svc.service.now_us():
            s = await svc.later.schedule(c.org, c.sub, req, send_at_us=at_us)
            return SentOut(state="scheduled", count=0, ids=[], scheduled=ScheduledOut.of(s))
    sent = await svc.service.send_request(c.org, c.sub, req, source={"kind": "service"})
    return SentOut(state="sent", count=len(sent), ids=[n.id for n in sent])


@bp.post("/notifications")
@validate_request(NotificationIn)
@validate_response(SentOut, 201)
@validate_response(ErrorOut, 403)
async def send(data: NotificationIn) -> tuple[SentOut, int]:
    """Notify users, teams and/or a channel's members (service tokens).

    With a ``send_at`` in the future the request is kept and sent then (202-like state
    ``scheduled``)."""
    return await _send(data), 201


@bp.post("/notifications:batch")
@validate_request(BatchIn)
@validate_response(BatchOut, 201)
@validate_response(ErrorOut, 403)
async def send_batch(data: BatchIn) -> tuple[BatchOut, int]:
    """Up to 100 notifications; all are checked before any is sent."""
    if not data.notifications or len(data.notifications) > MAX_BATCH:
        raise ClientError(ErrorCode.BAD_REQUEST, f"notifications: 1 to {MAX_BATCH}")
    c = claims()
    svc = services().notify.service
    checked = [await svc.check_request(c, _payload(n)) for n in data.notifications]
    return BatchOut(results=[await _dispatch(r) for r in checked]), 201


@bp.get("/notifications/scheduled/<scheduled_id>")
@validate_response(ScheduledOut)
@validate_response(ErrorOut, 403)
async def get_scheduled_notification(scheduled_id: str) -> ScheduledOut:
    """A scheduled notification of my org (service tokens)."""
    c = claims()
    if not c.is_service:
        raise ClientError(ErrorCode.FORBIDDEN, "only service tokens see scheduled notifications")
    return ScheduledOut.of(await services().notify.later.get(c.org, scheduled_id))


@bp.delete("/notifications/scheduled/<scheduled_id>")
@validate_response(ScheduledOut)
@validate_response(ErrorOut, 403)
async def cancel_scheduled_notification(scheduled_id: str) -> ScheduledOut:
    """Cancel a scheduled notification before it is sent (service tokens); 409 once sent."""
    c = claims()
    if not c.is_service:
        raise ClientError(ErrorCode.FORBIDDEN, "only service tokens cancel notifications")
    later = services().notify.later
    await later.cancel(c.org, c.sub, scheduled_id)
    return ScheduledOut.of(await later.get(c.org, scheduled_id))


@bp.get("/notifications")
@validate_querystring(InboxQuery)
@validate_response(InboxOut)
async def inbox(query_args: InboxQuery) -> InboxOut:
    """My notifications, newest first, with filters; next_cursor pages on."""
    c = claims()
    q = query_args
    svc = services().notify.service
    items, cursor = await svc.inbox(
        c.org,
        c.sub,
        limit=q.limit,
        cursor=q.cursor,
        unread=q.unread,
        archived={"false": False, "true": True, "all": None}[q.archived],
        type_=q.type,
        priority=q.priority,
        channel_id=q.channel,
        since=q.since,
        until=q.until,
    )
    return InboxOut(
        items=[NotificationOut.of(n) for n in items],
        next_cursor=cursor,
        unread=await svc.unread_count(c.org, c.sub),
    )


@bp.get("/notifications/unread-count")
@validate_response(UnreadOut)
async def unread_count() -> UnreadOut:
    """How many of my notifications are unread (archived ones not counted)."""
    c = claims()
    return UnreadOut(unread=await services().notify.service.unread_count(c.org, c.sub))


@bp.get("/notifications/<notification_id>")
@validate_response(NotificationOut)
async def get_notification(notification_id: str) -> NotificationOut:
    """One of my notifications."""
    c = claims()
    return NotificationOut.of(await services().notify.service.get(c.org, c.sub, notification_id))


@bp.post("/notifications/mark")
@validate_request(MarkIn)
@validate_response(MarkOut)
async def mark(data: MarkIn) -> MarkOut:
    """Mark notifications seen, read or archived, by ids or all up to an id.

    The change is pushed to my other devices."""
    c = claims()
    svc = services().notify.service
    changed = await svc.mark(c.org, c.sub, data.state, ids=data.ids, up_to=data.up_to, on=data.on)
    return MarkOut(changed=changed, unread=await svc.unread_count(c.org, c.sub))


async def _mark_one(notification_id: str, state: str) -> NotificationOut:
    c = claims()
    svc = services().notify.service
    await svc.mark(c.org, c.sub, state, ids=[notification_id])
    return NotificationOut.of(await svc.get(c.org, c.sub, notification_id))


@bp.post("/notifications/<notification_id>/read")
@validate_response(NotificationOut)
async def read_one(notification_id: str) -> NotificationOut:
    """Mark one notification read (and seen)."""
    return await _mark_one(notification_id, "read")


@bp.post("/notifications/<notification_id>/seen")
@validate_response(NotificationOut)
async def seen_one(notification_id: str) -> NotificationOut:
    """Mark one notification seen."""
    return await _mark_one(notification_id, "seen")


@bp.post("/notifications/<notification_id>/archive")
@validate_response(NotificationOut)
async def archive_one(notification_id: str) -> NotificationOut:
    """Archive one notification (it leaves the inbox list and the unread count)."""
    return await _mark_one(notification_id, "archived")


# -- one-click unsubscribe (RFC 8058): no bearer token ---------------------------------------

unsubscribe = Blueprint("notification_unsubscribe", __name__, url_prefix="/v1")
tag_blueprint(unsubscribe, ["notifications"])


class UnsubscribeQuery(Query):
    token: str


class UnsubscribedOut(Out):
    unsubscribed: bool


async def _token_user(token: str) -> tuple[str, str]:
    found = check_unsubscribe_token(services().notify.unsubscribe_key, token)
    if found is None:
        raise ClientError(ErrorCode.NOT_FOUND, "no such unsubscribe link")
    return found


@unsubscribe.post("/notifications/unsubscribe")
@validate_querystring(UnsubscribeQuery)
@validate_response(UnsubscribedOut)
async def unsubscribe_post(query_args: UnsubscribeQuery) -> UnsubscribedOut:
    """One-click unsubscribe from notification emails (RFC 8058: List-Unsubscribe=One-Click)."""
    org, user = await _token_user(query_args.token)
    await services().notify.service.set_email_unsubscribed(org, user, True)
    return UnsubscribedOut(unsubscribed=True)


@unsubscribe.get("/notifications/unsubscribe")
@validate_querystring(UnsubscribeQuery)
async def unsubscribe_page(query_args: UnsubscribeQuery) -> Response:
    """A page with one button that unsubscribes.

    A GET changes nothing: mail scanners follow links."""
    await _token_user(query_args.token)
    token = html.escape(quote(query_args.token, safe=""), quote=True)
    page = (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>Unsubscribe</title></head>"
        "<body><p>Stop notification emails from Parley?</p>"
        f"<form method='post' action='?token={token}'><button>Unsubscribe</button></form>"
        "</body></html>"
    )
    return Response(page, content_type="text/html; charset=utf-8")
