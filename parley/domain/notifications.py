"""Notifications: the one fan-out every source uses (:meth:`NotificationService.send`:
preferences, one write for all recipients, the live push on each recipient's topic, the
Web Push and email steps), the inbox and its read/seen/archived marks (pushed to the
user's other devices), the services' ``POST /v1/notifications``, and a user's
preferences, followed threads and push subscriptions (docs/notifications.md)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

import trio

from parley.core.claims import Claims
from parley.core.notifications import (
    MAX_BODY_CHARS,
    MAX_TITLE_CHARS,
    PRIORITIES,
    NewNotification,
    Notification,
    PushSubscription,
)
from parley.core.ports import EventSink, Notice
from parley.core.times import parse_ts, rfc3339, rfc3339_opt
from parley.core.topics import is_segment, notification_topic
from parley.domain import access, notify_prefs, rules
from parley.domain.notify_config import NotifyConfig
from parley.domain.notify_prefs import Prefs, check_type
from parley.domain.notify_push import check_keys
from parley.domain.notify_rules import cut
from parley.store import Store, sql
from parley.store.sql.notifications import InboxFilter

log = logging.getLogger("parley.notifications")

MARK_STATES = ("seen", "read", "archived")
#: Most ids one mark request may name; recipients one service request may name.
MAX_MARK_IDS = 500
MAX_RECIPIENT_USERS = 1000
MAX_RECIPIENT_TEAMS = 20
MAX_BATCH = 100
MAX_URL_CHARS = 2048
#: The preferences of a user who set none.
DEFAULT_PREFS = Prefs()
#: Seconds a node trusts what it read about an org's keyword and ``all`` listeners.
LISTENERS_TTL = 5.0
MAX_CACHED_ORGS = 10_000


class PushPort(Protocol):
    """The Web Push step (parley.domain.notify_push): takes new notifications that asked
    for push, never awaits."""

    def offer(self, items: Sequence[Notification]) -> None: ...


def notification_data(
    n: Notification, *, alert: bool | None = None, created_at: str | None = None
) -> dict[str, Any]:
    """A notification as REST and the live push show it (``created_at``: its RFC 3339
    text, when the caller has it already)."""
    out: dict[str, Any] = {
        "id": n.id,
        "type": n.type,
        "priority": n.priority,
        "title": n.title,
        "body": n.body,
        "link": n.link,
        "actor": n.actor,
        "source": n.source,
        "created_at": created_at or rfc3339(n.created_at),
        "seen_at": rfc3339_opt(n.seen_at),
        "read_at": rfc3339_opt(n.read_at),
        "archived_at": rfc3339_opt(n.archived_at),
        "delivery": {"in_app": "delivered", "push": n.push_state, "email": n.email_state},
    }
    if alert is not None:
        out["alert"] = alert
    return out


def check_link(link: object) -> dict[str, str]:
    if link is None:
        return {}
    if not isinstance(link, dict) or set(link) - {"channel", "message", "thread", "url"}:
        raise rules.bad("link must be an object with channel, message, thread or url")
    out: dict[str, str] = {}
    for k, v in link.items():
        if not isinstance(v, str) or not v or len(v) > MAX_URL_CHARS:
            raise rules.bad(f"link.{k} must be a non-empty string")
        out[k] = rules.check_clean(v, f"link.{k}")
    url = out.get("url")
    if url is not None and not url.startswith(("https://", "http://", "/")):
        raise rules.bad("link.url must be an http(s) URL or a path")
    return out


class NotificationService:
    def __init__(
        self,
        store: Store,
        sink: EventSink,
        config: NotifyConfig | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.sink = sink
        self.config = config or NotifyConfig()
        #: Wall-clock seconds (tests tie it to trio's clock, so delays run on autojump).
        self.clock = clock
        self.push: PushPort | None = None
        #: The last ``email`` claim seen per user (to write only changes).
        self._token_emails: dict[tuple[str, str], str] = {}
        #: org -> (trio time read, whether anyone has keywords or an ``all`` level).
        self._listeners: dict[str, tuple[float, bool]] = {}
        self.created = 0

    def now_us(self) -> int:
        return int(self.clock() * 1_000_000)

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    async def org_has_listeners(self, org: str) -> bool:
        """Whether someone in the org has keywords or an ``all`` level (kept for
        :data:`LISTENERS_TTL` seconds; a change on this node applies at once)."""
        now = trio.current_time()
        cached = self._listeners.get(org)
        if cached is not None and now - cached[0] < LISTENERS_TTL:
            return cached[1]
        found = await self.store.read(sql.notify_prefs.org_has_listeners, org)
        if len(self._listeners) > MAX_CACHED_ORGS:
            self._listeners.clear()
        self._listeners[org] = (now, found)
        return found

    # -- the one fan-out -----------------------------------------------------------------

    async def send(
        self,
        org: str,
        recipients: Sequence[str],
        *,
        type_: str,
        priority: str,
        title: str,
        body: str,
        link: dict[str, str],
        actor: str | None,
        source: dict[str, Any],
        dedupe_key: str | None = None,
    ) -> list[Notification]:
        """Notify ``recipients`` (deduplicated) as their preferences say: one write for all
        rows, then the live push on each recipient's topic and the push step. With
        ``dedupe_key``, a recipient who has a notification with that key already gets
        nothing (no row, no live push, no Web Push)."""
        users = list(dict.fromkeys(u for u in recipients if u))
        if not users:
            return []
        channel_id = link.get("channel")
        stored = await self.store.read(sql.notify_prefs.prefs_of, org, users, channel_id=channel_id)
        now = self.now()
        title = cut(title, MAX_TITLE_CHARS)
        body = cut(body, MAX_BODY_CHARS)
        items: list[NewNotification] = []
        alerts: dict[str, bool] = {}  # per recipient (each is there once)
        default: notify_prefs.Decision | None = None  # of users with no stored preferences
        for user in users:
            s = stored.get(user)
            if s is None:
                if default is None:
                    default = notify_prefs.decide(
                        DEFAULT_PREFS,
                        type_=type_,
                        priority=priority,
                        channel_id=channel_id,
                        now=now,
                    )
                d = default
            else:
                prefs = notify_prefs.from_stored(
                    s.level,
                    s.doc,
                    channels=s.channels,
                    keywords=s.keywords,
                    email_unsubscribed=s.email_unsubscribed,
                )
                d = notify_prefs.decide(
                    prefs, type_=type_, priority=priority, channel_id=channel_id, now=now
                )
            if not d.store:
                continue
            items.append(
                NewNotification(
                    org,
                    user,
                    type_,
                    priority,
                    title,
                    body,
                    link,
                    actor,
                    source,
                    push=d.push and self.push is not None,
                    email=d.email and bool(self.config.smtp_url),
                    dedupe_key=dedupe_key,
                )
            )
            alerts[user] = d.alert
        if not items:
            return []
        created = await self.store.write(
            sql.notifications.insert,
            items,
            now_us=self.now_us(),
            email_delay_us=int(self.config.email_delay * 1_000_000),
        )
        if not created:
            return []  # every recipient had this dedupe key already
        self.created += len(created)
        shared_at = rfc3339(created[0].created_at)  # one instant for the whole batch
        for n in created:
            if is_segment(n.recipient):
                self.sink.publish(
                    notification_topic(org, "created", n.recipient),
                    notification_data(n, alert=alerts[n.recipient], created_at=shared_at),
                )
        if self.push is not None:
            wanted = [n for n in created if n.push_state != "none"]
            if wanted:
                self.push.offer(wanted)
        return created

    async def notice(self, notice: Notice) -> None:
        """The :data:`~parley.core.ports.Notify` intake: a reminder or a task falling due
        (docs/automation.md, *The notify seam*) becomes the recipient's notification, with
        the notice's key as its source. A link to a message is ``{channel, message}``, to a
        task ``{url: /v1/tasks/ID}``. Stored once per key: a job that runs again (after a
        crash between its notice and its completion) hands over the same key, and the
        second notice stores nothing and pushes nothing."""
        link: dict[str, str] = {}
        if "channel" in notice.link:
            link["channel"] = notice.link["channel"]
        if "message_id" in notice.link:
            link["message"] = notice.link["message_id"]
        if "task_id" in notice.link:
            link["url"] = f"/v1/tasks/{notice.link['task_id']}"
        await self.send(
            notice.org,
            [notice.user_id],
            type_=notice.type,
            priority=notice.priority,
            title=notice.title,
            body=notice.body,
            link=link,
            actor=None,
            source={"kind": notice.type, "key": notice.key},
            dedupe_key=notice.key,
        )

    # -- services: POST /v1/notifications ----------------------------------------------

    async def check_request(self, caller: Claims, body: dict[str, Any]) -> dict[str, Any]:
        """Validate a service's notification request; return it normalized (recipients
        checked to exist in the org: teams by name, the channel by id)."""
        if not caller.is_service:
            raise access.forbidden("only service tokens send notifications")
        unknown = set(body) - {"recipients", "type", "priority", "title", "body", "link"}
        unknown -= {"send_at"}
        if unknown:
            raise rules.bad(f"unknown field {sorted(unknown)[0]!r}")
        rec = body.get("recipients")
        if not isinstance(rec, dict) or not rec or set(rec) - {"users", "teams", "channel"}:
            raise rules.bad('recipients must be {"users": [...], "teams": [...], "channel": "..."}')
        users = rec.get("users", [])
        if not isinstance(users, list) or len(users) > MAX_RECIPIENT_USERS:
            raise rules.bad(f"recipients.users must be a list of at most {MAX_RECIPIENT_USERS}")
        users = [rules.check_user_id(u, "a recipient") for u in users]
        teams = rec.get("teams", [])
        if (
            not isinstance(teams, list)
            or len(teams) > MAX_RECIPIENT_TEAMS
            or not all(isinstance(t, str) and t and rules.is_clean(t) for t in teams)
        ):
            raise rules.bad(
                f"recipients.teams must be a list of at most {MAX_RECIPIENT_TEAMS} names"
            )
        if teams:
            found = await self.store.read(sql.teams.team_members_by_name, caller.org, teams)
            missing = [t for t in teams if t not in found]
            if missing:
                raise access.not_found(f"team {missing[0]!r}")
        channel = rec.get("channel")
        if channel is not None:
            if not isinstance(channel, str) or not rules.is_clean(channel):
                raise rules.bad("recipients.channel must be a channel id")
            if await self.store.read(sql.channels.get_channel, caller.org, channel) is None:
                raise access.no_channel()
        if not users and not teams and channel is None:
            raise rules.bad("recipients must name at least one user, team or channel")
        type_ = check_type(body.get("type", "service"))
        priority = body.get("priority", "normal")
        if priority not in PRIORITIES:
            raise rules.bad(f"priority must be one of: {', '.join(PRIORITIES)}")
        title = body.get("title")
        if not isinstance(title, str) or not title.strip():
            raise rules.bad("title must be a non-empty string")
        text = body.get("body", "")
        if not isinstance(text, str):
            raise rules.bad("body must be a string (plain text)")
        if len(title) > MAX_TITLE_CHARS or len(text) > MAX_BODY_CHARS:
            raise rules.bad(f"title/body longer than {MAX_TITLE_CHARS}/{MAX_BODY_CHARS} characters")
        rules.check_clean(title, "title")
        rules.check_clean(text, "body")
        link = check_link(body.get("link"))
        if channel is not None:
            link.setdefault("channel", channel)
        out: dict[str, Any] = {
            "recipients": {"users": users, "teams": teams, "channel": channel},
            "type": type_,
            "priority": priority,
            "title": title,
            "body": text,
            "link": link,
        }
        send_at = body.get("send_at")
        if send_at is not None:
            if not isinstance(send_at, str):
                raise rules.bad("send_at must be an RFC 3339 time")
            out["send_at"] = rfc3339(parse_ts(send_at, what="send_at"))
        return out

    async def recipients_of(self, org: str, request: dict[str, Any]) -> list[str]:
        """The users a (checked) request names, resolved now: teams' and the channel's
        members at send time."""
        rec = request["recipients"]
        users: dict[str, None] = dict.fromkeys(rec.get("users") or ())
        teams = rec.get("teams") or []
        if teams:
            for members in (
                await self.store.read(sql.teams.team_members_by_name, org, teams)
            ).values():
                users.update(dict.fromkeys(members))
        if rec.get("channel"):
            users.update(
                dict.fromkeys(
                    await self.store.read(sql.notify_prefs.channel_member_ids, org, rec["channel"])
                )
            )
        return list(users)

    async def send_request(
        self, org: str, actor: str, request: dict[str, Any], *, source: dict[str, Any]
    ) -> list[Notification]:
        """Send a checked request now (also the handler of a due scheduled one)."""
        return await self.send(
            org,
            await self.recipients_of(org, request),
            type_=request["type"],
            priority=request["priority"],
            title=request["title"],
            body=request["body"],
            link=request["link"],
            actor=actor,
            source=source,
        )

    # -- inbox -------------------------------------------------------------------------

    async def inbox(
        self,
        org: str,
        user_id: str,
        *,
        limit: int | None,
        cursor: str | None,
        unread: bool = False,
        archived: bool | None = False,
        type_: str | None = None,
        priority: str | None = None,
        channel_id: str | None = None,
        since: str | None = None,
        until: str | None = None,
    ) -> tuple[list[Notification], str | None]:
        n = rules.check_limit(limit, cap=rules.MAX_PAGE_LIMIT)
        if cursor is not None and not (cursor.startswith("ntf_") and rules.is_clean(cursor)):
            raise rules.bad("bad cursor")
        if type_ is not None:
            check_type(type_)
        if priority is not None and priority not in PRIORITIES:
            raise rules.bad(f"priority must be one of: {', '.join(PRIORITIES)}")
        if channel_id is not None:
            rules.check_clean(channel_id, "channel")
        f = InboxFilter(
            unread=unread,
            archived=archived,
            type=type_,
            priority=priority,
            channel_id=channel_id,
            since_us=None if since is None else _us(parse_ts(since, what="since")),
            until_us=None if until is None else _us(parse_ts(until, what="until")),
        )
        rows = await self.store.read(
            sql.notifications.inbox, org, user_id, f, limit=n, before=cursor
        )
        more = len(rows) > n
        rows = rows[:n]
        return rows, (rows[-1].id if more and rows else None)

    async def get(self, org: str, user_id: str, notification_id: str) -> Notification:
        n = None
        if rules.is_clean(notification_id):
            n = await self.store.read(sql.notifications.get, org, user_id, notification_id)
        if n is None:
            raise access.not_found("notification")
        return n

    async def unread_count(self, org: str, user_id: str) -> int:
        return await self.store.read(sql.notifications.unread_count, org, user_id)

    async def mark(
        self,
        org: str,
        user_id: str,
        state: str,
        *,
        ids: Sequence[str] | None = None,
        up_to: str | None = None,
        on: bool = True,
    ) -> list[str]:
        """Mark ``ids`` (or every notification up to the id ``up_to``) seen/read/archived
        (``on`` false: unread / unarchived, ids only); the change is pushed to all the
        user's devices. Returns the ids that changed."""
        if state not in MARK_STATES:
            raise rules.bad(f"state must be one of: {', '.join(MARK_STATES)}")
        if (ids is None) == (up_to is None):
            raise rules.bad("give either ids or up_to")
        if ids is not None:
            if not isinstance(ids, list) or not ids or len(ids) > MAX_MARK_IDS:
                raise rules.bad(f"ids must be a list of 1 to {MAX_MARK_IDS} notification ids")
            if not all(isinstance(i, str) and rules.is_clean(i) for i in ids):
                raise rules.bad("ids must be notification ids")
            if len(ids) == 1:
                await self.get(org, user_id, ids[0])  # one foreign id: a clear 404
        if up_to is not None:
            if not on:
                raise rules.bad("up_to marks only; unmark by ids")
            await self.get(org, user_id, up_to)
        if on:
            changed = await self.store.write(
                sql.notifications.mark,
                org,
                user_id,
                state,
                ids=ids or (),
                up_to=up_to,
                now_us=self.now_us(),
            )
        else:
            changed = await self.store.write(
                sql.notifications.unmark, org, user_id, state, ids or []
            )
        if changed and is_segment(user_id):
            self.sink.publish(
                notification_topic(org, "updated", user_id),
                {
                    "state": state,
                    "on": on,
                    "ids": changed,
                    "unread": await self.unread_count(org, user_id),
                },
            )
        return changed

    # -- preferences -------------------------------------------------------------------

    async def preferences(self, org: str, user_id: str) -> Prefs:
        s = await self.store.read(sql.notify_prefs.get_prefs, org, user_id)
        return notify_prefs.from_stored(
            s.level,
            s.doc,
            channels=s.channels,
            keywords=s.keywords,
            email_unsubscribed=s.email_unsubscribed,
        )

    async def update_preferences(self, org: str, user_id: str, body: object) -> Prefs:
        """Change some fields; the new preferences are pushed to every device of the user."""
        if not isinstance(body, dict):
            raise rules.bad("the body must be a JSON object")
        current = await self.preferences(org, user_id)
        new, keywords_changed, channels_changed = notify_prefs.apply_patch(current, body)
        channels: dict[str, str] | None = None
        if channels_changed:
            channels = {c: "default" for c in current.channels if c not in new.channels}
            channels.update(new.channels)
        await self.store.write(
            sql.notify_prefs.set_prefs,
            org,
            user_id,
            level=new.level,
            doc=new.doc(),
            keywords=new.keywords if keywords_changed else None,
            channels=channels,
            now_us=self.now_us(),
        )
        self._listeners.pop(org, None)
        self._push_prefs(org, user_id, new)
        return new

    async def set_email_unsubscribed(self, org: str, user_id: str, on: bool) -> None:
        await self.store.write(
            sql.notify_prefs.set_email_unsubscribed, org, user_id, on, now_us=self.now_us()
        )
        self._push_prefs(org, user_id, await self.preferences(org, user_id))

    def _push_prefs(self, org: str, user_id: str, prefs: Prefs) -> None:
        if is_segment(user_id):
            self.sink.publish(
                notification_topic(org, "preferences", user_id), notify_prefs.as_json(prefs)
            )

    async def saw_token(self, claims: Claims) -> None:
        """Remember the ``email`` claim of the token a user presented (written on change)."""
        if claims.email is None or claims.is_service:
            return
        key = (claims.org, claims.sub)
        if self._token_emails.get(key) == claims.email:
            return
        await self.store.write(
            sql.notify_prefs.set_token_email,
            claims.org,
            claims.sub,
            claims.email,
            now_us=self.now_us(),
        )
        self._token_emails[key] = claims.email

    # -- threads -----------------------------------------------------------------------

    async def follow_thread(
        self, org: str, user_id: str, channel_id: str, root_id: str, following: bool
    ) -> bool:
        await access.membership(self.store, org, user_id, channel_id)
        msg = await access.message(self.store, org, channel_id, root_id, live=False)
        root = await self.store.read(sql.messages.thread_root_of, org, msg.id) or msg.id
        await self.store.write(sql.notify_prefs.follow, org, root, user_id, following)
        return following

    async def following(self, org: str, user_id: str, channel_id: str, root_id: str) -> bool:
        await access.membership(self.store, org, user_id, channel_id)
        msg = await access.message(self.store, org, channel_id, root_id, live=False)
        root = await self.store.read(sql.messages.thread_root_of, org, msg.id) or msg.id
        state = await self.store.read(sql.notify_prefs.is_following, org, root, user_id)
        if state is None:
            return msg.author == user_id and root == msg.id
        return state

    # -- push subscriptions ------------------------------------------------------------

    async def add_subscription(
        self, org: str, user_id: str, endpoint: object, keys: object
    ) -> PushSubscription:
        if (
            not isinstance(endpoint, str)
            or not endpoint.startswith(("https://", "http://"))
            or len(endpoint) > MAX_URL_CHARS
        ):
            raise rules.bad("endpoint must be the push service's http(s) URL")
        rules.check_clean(endpoint, "endpoint")
        if not isinstance(keys, dict) or set(keys) != {"p256dh", "auth"}:
            raise rules.bad("keys must be {p256dh, auth} (base64url), as PushSubscription.toJSON()")
        p256dh, auth = check_keys(keys["p256dh"], keys["auth"])
        return await self.store.write(
            sql.notify_prefs.add_subscription,
            org,
            user_id,
            endpoint,
            p256dh,
            auth,
            now_us=self.now_us(),
        )

    async def subscriptions(self, org: str, user_id: str) -> list[PushSubscription]:
        return await self.store.read(sql.notify_prefs.subscriptions, org, [user_id])

    async def delete_subscription(self, org: str, user_id: str, sid: str) -> None:
        ok = rules.is_clean(sid) and await self.store.write(
            sql.notify_prefs.delete_subscription, org, user_id, sid
        )
        if not ok:
            raise access.not_found("push subscription")


def _us(dt: datetime) -> int:
    return int(dt.timestamp() * 1_000_000)
