"""The vocabulary and records of notifications (docs/notifications.md), shared by the
store, the domain and the REST layer."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

#: Types Parley itself makes. Services and rules may use any other lower-case name
#: (``[a-z][a-z0-9_.-]*``), e.g. ``deploy.failed``.
MENTION = "mention"
REPLY = "reply"
DM = "dm"
MESSAGE = "message"
REACTION = "reaction"
KEYWORD = "keyword"
TASK_ASSIGNED = "task_assigned"
TASK_DUE = "task_due"
REMINDER = "reminder"
BUILTIN_TYPES = (MENTION, REPLY, DM, MESSAGE, REACTION, KEYWORD, TASK_ASSIGNED, TASK_DUE, REMINDER)
#: Types made by chat messages: the global and per-channel levels apply to them.
CHAT_TYPES = frozenset({MENTION, REPLY, DM, MESSAGE, REACTION, KEYWORD})
#: Types aimed at me, that pass the ``mentions_and_dms`` level (all chat types but ``message``).
DIRECT_TYPES = frozenset({MENTION, DM, KEYWORD, REPLY, REACTION})

PRIORITIES = ("low", "normal", "high", "urgent")
URGENT = "urgent"

#: Delivery channels of a notification (besides the inbox row itself).
IN_APP = "in_app"
PUSH = "push"
EMAIL = "email"
DELIVERY_CHANNELS = (IN_APP, PUSH, EMAIL)

#: States of a delivery step (push_state, email_state).
STEP_NONE = "none"
STEP_PENDING = "pending"
STEP_SENDING = "sending"
STEP_SENT = "sent"
STEP_SKIPPED = "skipped"
STEP_FAILED = "failed"

#: Largest title and body (characters); longer ones are cut (and end with "…").
MAX_TITLE_CHARS = 200
MAX_BODY_CHARS = 2000


@dataclass(frozen=True, slots=True)
class NewNotification:
    """One notification about to be stored for one recipient. ``link``: ``{"channel",
    "message", "thread", "url"}`` (any of them); ``source``: what made it (``{"kind":
    "message", "id": ...}``, ``{"kind": "event", "topic": ...}``, ``{"kind": "service"}``,
    ``{"kind": "rule", "id": ...}``)."""

    org: str
    recipient: str
    type: str
    priority: str
    title: str
    body: str
    link: dict[str, str]
    actor: str | None
    source: dict[str, Any]
    #: Whether to send Web Push / email for it (decided from the recipient's preferences).
    push: bool = False
    email: bool = False
    #: Stored at most once per (org, recipient, key): a re-run job's notice is dropped.
    dedupe_key: str | None = None


@dataclass(frozen=True, slots=True)
class Notification:
    id: str
    org: str
    recipient: str
    type: str
    priority: str
    title: str
    body: str
    link: dict[str, str]
    actor: str | None
    source: dict[str, Any]
    created_at: datetime
    seen_at: datetime | None
    read_at: datetime | None
    archived_at: datetime | None
    push_state: str
    email_state: str

    @property
    def channel_id(self) -> str | None:
        return self.link.get("channel")


@dataclass(frozen=True, slots=True)
class PushSubscription:
    id: str
    org: str
    user_id: str
    endpoint: str
    #: The browser's P-256 public key and auth secret (base64url, RFC 8291).
    p256dh: str
    auth: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class StoredRule:
    """A notification rule as stored: ``spec`` is its validated definition (topic,
    conditions, recipients, templates, priority, type), see ``parley.domain.notify_rules``."""

    id: str
    org: str
    name: str
    spec: dict[str, Any]
    enabled: bool
    created_by: str
    created_at: datetime
    updated_at: datetime
    match_count: int
    error_count: int
    last_error: str | None
    last_error_at: datetime | None


@dataclass(frozen=True, slots=True)
class ScheduledNotification:
    """A service's notification request kept until ``send_at`` (state ``scheduled``,
    then ``sent`` or ``cancelled``)."""

    id: str
    org: str
    created_by: str
    request: dict[str, Any]
    send_at: datetime
    state: str
    created_at: datetime
    #: Notifications created when it was sent.
    sent_count: int | None
