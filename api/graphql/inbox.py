"""The resolvers of the inbox and automation fields (docs/graphql.md): notifications and
their preferences, scheduled messages, reminders. Registered into :data:`.resolvers.RESOLVERS`
on import (:mod:`.schema` imports it); each calls the domain service method the REST route
calls (``api/notifications.py``, ``api/notify_prefs.py``, ``api/scheduled.py``,
``api/reminders.py``), so refusals and error codes are REST's."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from graphql import GraphQLResolveInfo

from parley.api.graphql.resolvers import (
    _segment,
    connection,
    ctx,
    field,
    mutation,
    opaque,
    snake,
    streams,
    subscription,
    unwrap,
)
from parley.core.notifications import Notification
from parley.core.times import rfc3339
from parley.core.topics import notification_topic
from parley.domain.notify_prefs import as_json
from parley.domain.reminders import Reminder
from parley.domain.scheduled import ScheduledMessage

#: ``archived`` argument (the NotificationArchive enum's values) -> the inbox filter.
ARCHIVED = {"inbox": False, "archived": True, "all": None}


def _ts(value: datetime | None) -> str | None:
    return None if value is None else rfc3339(value)


# -- notifications ----------------------------------------------------------------------------
@field("Query", "notifications")
async def q_notifications(
    _: Any,
    info: GraphQLResolveInfo,
    first: int | None = None,
    after: str | None = None,
    unread: bool = False,
    archived: str = "inbox",
    type: str | None = None,
    priority: str | None = None,
    channel: str | None = None,
    **dates: datetime | None,
) -> dict[str, Any]:
    c = ctx(info)
    items, nxt = await c.services.notify.service.inbox(
        c.org,
        c.me,
        limit=first,
        cursor=unwrap(after),
        unread=bool(unread),
        archived=ARCHIVED[archived],
        type_=type,
        priority=priority,
        channel_id=channel,
        since=_ts(dates.get("from")),
        until=_ts(dates.get("to")),
    )
    return connection(items, opaque(nxt))


@field("Query", "unreadNotificationCount")
async def q_unread_notifications(_: Any, info: GraphQLResolveInfo) -> int:
    c = ctx(info)
    return await c.services.notify.service.unread_count(c.org, c.me)


@field("Query", "notification")
async def q_notification(_: Any, info: GraphQLResolveInfo, id: str) -> Notification:
    c = ctx(info)
    return await c.services.notify.service.get(c.org, c.me, id)


@field("Notification", "delivery")
def notification_delivery(n: Notification | dict[str, Any], _info: GraphQLResolveInfo) -> Any:
    if isinstance(n, dict):  # a live event: the REST shape already
        return n.get("delivery")
    return {"in_app": "delivered", "push": n.push_state, "email": n.email_state}


@mutation("markNotifications")
async def m_mark_notifications(
    _: Any,
    info: GraphQLResolveInfo,
    state: str,
    ids: list[str] | None = None,
    upTo: str | None = None,
    on: bool = True,
) -> dict[str, Any]:
    c = ctx(info)
    svc = c.services.notify.service
    changed = await svc.mark(c.org, c.me, state, ids=ids, up_to=upTo, on=bool(on))
    return {"changed": changed, "unread": await svc.unread_count(c.org, c.me)}


@mutation("markNotification")
async def m_mark_notification(
    _: Any, info: GraphQLResolveInfo, id: str, state: str
) -> Notification:
    c = ctx(info)
    svc = c.services.notify.service
    await svc.mark(c.org, c.me, state, ids=[id])
    return await svc.get(c.org, c.me, id)


@field("Query", "notificationPreferences")
async def q_notification_preferences(_: Any, info: GraphQLResolveInfo) -> dict[str, Any]:
    c = ctx(info)
    return as_json(await c.services.notify.service.preferences(c.org, c.me))


@mutation("updateNotificationPreferences")
async def m_update_preferences(_: Any, info: GraphQLResolveInfo, **given: Any) -> dict[str, Any]:
    """Only the arguments given change, as REST's PATCH with only those fields."""
    c = ctx(info)
    body = {snake(k): v for k, v in given.items()}
    dnd = body.get("dnd")
    if dnd is not None:  # as REST: the fields given; ``until`` as RFC 3339
        body["dnd"] = {
            snake(k): rfc3339(v) if isinstance(v, datetime) else v
            for k, v in dnd.items()
            if v is not None
        }
    return as_json(await c.services.notify.service.update_preferences(c.org, c.me, body))


@mutation("setEmailSubscription")
async def m_email_subscription(
    _: Any, info: GraphQLResolveInfo, subscribed: bool
) -> dict[str, Any]:
    c = ctx(info)
    svc = c.services.notify.service
    await svc.set_email_unsubscribed(c.org, c.me, not subscribed)
    return as_json(await svc.preferences(c.org, c.me))


@mutation("followThread")
async def m_follow_thread(
    _: Any, info: GraphQLResolveInfo, channel: str, root: str, on: bool = True
) -> bool:
    c = ctx(info)
    await c.services.notify.service.follow_thread(c.org, c.me, channel, root, bool(on))
    return bool(on)


@subscription("notifications")
async def sub_notifications(_: Any, info: GraphQLResolveInfo) -> Any:
    c = ctx(info)
    return streams(info).stream(notification_topic(c.org, "*", _segment(c.me, "user")))


@field("Subscription", "notifications")
def notification_payload(
    frame: dict[str, Any], _info: GraphQLResolveInfo, **_: Any
) -> dict[str, Any]:
    event = str(frame.get("topic", "")).split(".")[4]
    data: dict[str, Any] = dict(frame.get("data") or {})
    out: dict[str, Any] = {"event": event}
    if event == "created":
        out |= {"notification": data, "alert": data.get("alert")}
    elif event == "updated":
        out |= {k: data.get(k) for k in ("state", "on", "ids", "unread")}
    elif event == "preferences":
        out["preferences"] = data
    return out


# -- scheduled messages -----------------------------------------------------------------------
def _channel_id(record: ScheduledMessage | Reminder, _info: GraphQLResolveInfo) -> str:
    return record.channel_id


for _type in ("ScheduledMessage", "Reminder"):
    field(_type, "channel")(_channel_id)


def _when(
    at_key: str,
    at: datetime | None,
    inSeconds: float | None,
    tomorrowAt: str | None,
    tz: str | None,
) -> dict[str, object]:
    return {at_key: _ts(at), "in_seconds": inSeconds, "tomorrow_at": tomorrowAt, "tz": tz}


@field("Query", "scheduledMessages")
async def q_scheduled(
    _: Any, info: GraphQLResolveInfo, channel: str | None = None, first: int | None = None
) -> list[ScheduledMessage]:
    c = ctx(info)
    return await c.services.scheduled.list(c.claims, channel_id=channel, limit=first)


@field("Query", "scheduledMessage")
async def q_scheduled_message(_: Any, info: GraphQLResolveInfo, id: str) -> ScheduledMessage:
    c = ctx(info)
    return await c.services.scheduled.get(c.claims, id)


@mutation("scheduleMessage")
async def m_schedule(
    _: Any,
    info: GraphQLResolveInfo,
    channel: str,
    text: str,
    sendAt: datetime | None = None,
    inSeconds: float | None = None,
    tomorrowAt: str | None = None,
    tz: str | None = None,
) -> ScheduledMessage:
    c = ctx(info)
    when_ = _when("send_at", sendAt, inSeconds, tomorrowAt, tz)
    return await c.services.scheduled.create(c.claims, channel, text, when_)


@mutation("editScheduledMessage")
async def m_edit_scheduled(
    _: Any,
    info: GraphQLResolveInfo,
    id: str,
    text: str | None = None,
    sendAt: datetime | None = None,
    inSeconds: float | None = None,
    tomorrowAt: str | None = None,
    tz: str | None = None,
) -> ScheduledMessage:
    c = ctx(info)
    when_ = _when("send_at", sendAt, inSeconds, tomorrowAt, tz)
    return await c.services.scheduled.edit(c.claims, id, text=text, when_=when_)


@mutation("cancelScheduledMessage")
async def m_cancel_scheduled(_: Any, info: GraphQLResolveInfo, id: str) -> ScheduledMessage:
    c = ctx(info)
    return await c.services.scheduled.cancel(c.claims, id)


# -- reminders --------------------------------------------------------------------------------
@field("Query", "reminders")
async def q_reminders(
    _: Any, info: GraphQLResolveInfo, pending: bool = False, first: int | None = None
) -> list[Reminder]:
    c = ctx(info)
    return await c.services.reminders.reminders(c.claims, pending_only=bool(pending), limit=first)


@mutation("remindMe")
async def m_remind_me(
    _: Any,
    info: GraphQLResolveInfo,
    channel: str,
    message: str,
    at: datetime | None = None,
    inSeconds: float | None = None,
    tomorrowAt: str | None = None,
    tz: str | None = None,
    note: str | None = None,
) -> Reminder:
    c = ctx(info)
    return await c.services.reminders.remind_message(
        c.claims, channel, message, note=note, when_=_when("at", at, inSeconds, tomorrowAt, tz)
    )


@mutation("cancelReminder")
async def m_cancel_reminder(_: Any, info: GraphQLResolveInfo, id: str) -> Reminder:
    c = ctx(info)
    return await c.services.reminders.cancel(c.claims, id)


# -- service events ---------------------------------------------------------------------------
@mutation("publishEvents")
def m_publish_events(_: Any, info: GraphQLResolveInfo, events: list[dict[str, Any]]) -> list[int]:
    c = ctx(info)
    return c.services.events.publish_events(c.claims, [(e["topic"], e.get("data")) for e in events])
