"""My notification settings: ``/v1/me/notification-preferences``, Web Push subscriptions
(``/v1/me/push-subscriptions``, the server's VAPID key) and thread follows
(``/v1/channels/{id}/threads/{root}/follow``). See docs/notifications.md."""

from __future__ import annotations

from typing import Literal

from pydantic import JsonValue
from quart_schema import tag_blueprint, validate_request, validate_response

from parley.api.blueprints import authenticated_blueprint
from parley.api.deps import claims, services
from parley.api.schemas import Body, Out, Timestamp
from parley.core.codes import ErrorCode
from parley.core.errors import ClientError
from parley.core.notifications import PushSubscription
from parley.core.times import rfc3339
from parley.domain.notify_prefs import Prefs, as_json

bp = authenticated_blueprint("notify_prefs", __name__)
tag_blueprint(bp, ["notifications"])


class DndIn(Body):
    #: ``HH:MM`` (24 h) in ``time_zone``; a window may run over midnight.
    start: str | None = None
    end: str | None = None
    #: ISO weekdays (1 = Monday) the window starts on.
    days: list[int] | None = None
    #: An IANA time zone (``Europe/Paris``).
    time_zone: str | None = None
    #: RFC 3339: do not disturb until then (snooze), whatever the window.
    until: str | None = None


class PrefsIn(Body):
    """Only the fields given change; ``channels`` merges (``default`` removes an entry)."""

    level: Literal["all", "mentions_and_dms", "nothing"] | None = None
    channels: dict[str, Literal["default", "all", "mentions", "mute"]] | None = None
    #: type -> {"in_app", "push", "email"} -> on/off.
    delivery: dict[str, dict[str, bool]] | None = None
    #: null: no do-not-disturb.
    dnd: DndIn | None = None
    keywords: list[str] | None = None
    #: Where digests go; null: the ``email`` claim of my last token.
    email: str | None = None


class PrefsOut(Out):
    level: str
    channels: dict[str, str]
    delivery: dict[str, dict[str, bool]]
    dnd: dict[str, JsonValue] | None = None
    keywords: list[str]
    email: str | None = None
    #: Set by the emails' one-click unsubscribe (``PUT .../email`` changes it back).
    email_unsubscribed: bool

    @classmethod
    def of(cls, p: Prefs) -> PrefsOut:
        return cls.model_validate(as_json(p))


@bp.get("/me/notification-preferences")
@validate_response(PrefsOut)
async def get_preferences() -> PrefsOut:
    """My notification preferences."""
    c = claims()
    return PrefsOut.of(await services().notify.service.preferences(c.org, c.sub))


@bp.patch("/me/notification-preferences")
@validate_request(PrefsIn)
@validate_response(PrefsOut)
async def update_preferences(data: PrefsIn) -> PrefsOut:
    """Change some of my notification preferences; every device of mine is told at once."""
    c = claims()
    body = data.model_dump(exclude_unset=True)
    if data.dnd is not None:
        body["dnd"] = data.dnd.model_dump(exclude_none=True)
    return PrefsOut.of(await services().notify.service.update_preferences(c.org, c.sub, body))


class EmailSubscriptionIn(Body):
    subscribed: bool


@bp.put("/me/notification-preferences/email")
@validate_request(EmailSubscriptionIn)
@validate_response(PrefsOut)
async def email_subscription(data: EmailSubscriptionIn) -> PrefsOut:
    """Subscribe to notification emails again (or unsubscribe, as the emails' link does)."""
    c = claims()
    svc = services().notify.service
    await svc.set_email_unsubscribed(c.org, c.sub, not data.subscribed)
    return PrefsOut.of(await svc.preferences(c.org, c.sub))


# -- Web Push ---------------------------------------------------------------------------------


class PushKeysIn(Body):
    p256dh: str
    auth: str


class PushSubscriptionIn(Body):
    """``PushSubscription.toJSON()`` of a browser (``expirationTime`` is ignored)."""

    endpoint: str
    keys: PushKeysIn
    expirationTime: int | None = None


class PushSubscriptionOut(Out):
    id: str
    endpoint: str
    created_at: Timestamp

    @classmethod
    def of(cls, s: PushSubscription) -> PushSubscriptionOut:
        return cls(id=s.id, endpoint=s.endpoint, created_at=rfc3339(s.created_at))


class PushSubscriptionListOut(Out):
    items: list[PushSubscriptionOut]


class VapidKeyOut(Out):
    #: The ``applicationServerKey`` for ``pushManager.subscribe`` (base64url).
    public_key: str


class DeletedOut(Out):
    id: str
    deleted: bool


@bp.get("/push/vapid-public-key")
@validate_response(VapidKeyOut)
async def vapid_public_key() -> VapidKeyOut:
    """The server's VAPID public key browsers subscribe with (404 when Web Push is off)."""
    push = services().notify.push
    if push is None:
        raise ClientError(ErrorCode.NOT_FOUND, "Web Push is not configured")
    return VapidKeyOut(public_key=push.key.public_key)


@bp.post("/me/push-subscriptions")
@validate_request(PushSubscriptionIn)
@validate_response(PushSubscriptionOut, 201)
async def add_push_subscription(data: PushSubscriptionIn) -> tuple[PushSubscriptionOut, int]:
    """Register a browser or device for Web Push (the same endpoint again replaces its keys)."""
    c = claims()
    sub = await services().notify.service.add_subscription(
        c.org, c.sub, data.endpoint, data.keys.model_dump()
    )
    return PushSubscriptionOut.of(sub), 201


@bp.get("/me/push-subscriptions")
@validate_response(PushSubscriptionListOut)
async def list_push_subscriptions() -> PushSubscriptionListOut:
    """My Web Push subscriptions."""
    c = claims()
    subs = await services().notify.service.subscriptions(c.org, c.sub)
    return PushSubscriptionListOut(items=[PushSubscriptionOut.of(s) for s in subs])


@bp.delete("/me/push-subscriptions/<subscription_id>")
@validate_response(DeletedOut)
async def delete_push_subscription(subscription_id: str) -> DeletedOut:
    """Remove one of my Web Push subscriptions."""
    c = claims()
    await services().notify.service.delete_subscription(c.org, c.sub, subscription_id)
    return DeletedOut(id=subscription_id, deleted=True)


# -- threads ----------------------------------------------------------------------------------


class FollowOut(Out):
    #: The thread's root message.
    root_id: str
    following: bool


async def _follow(channel_id: str, root_id: str, on: bool) -> FollowOut:
    c = claims()
    svc = services().notify.service
    await svc.follow_thread(c.org, c.sub, channel_id, root_id, on)
    return FollowOut(root_id=root_id, following=on)


@bp.put("/channels/<channel_id>/threads/<root_id>/follow")
@validate_response(FollowOut)
async def follow_thread(channel_id: str, root_id: str) -> FollowOut:
    """Follow a thread: its replies notify me (replying follows it too)."""
    return await _follow(channel_id, root_id, True)


@bp.delete("/channels/<channel_id>/threads/<root_id>/follow")
@validate_response(FollowOut)
async def unfollow_thread(channel_id: str, root_id: str) -> FollowOut:
    """Stop following a thread (until I reply in it again)."""
    return await _follow(channel_id, root_id, False)


@bp.get("/channels/<channel_id>/threads/<root_id>/follow")
@validate_response(FollowOut)
async def thread_following(channel_id: str, root_id: str) -> FollowOut:
    """Whether I follow a thread."""
    c = claims()
    on = await services().notify.service.following(c.org, c.sub, channel_id, root_id)
    return FollowOut(root_id=root_id, following=on)
