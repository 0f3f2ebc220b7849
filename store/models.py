"""Plain records the store returns. Timestamps are timezone-aware UTC datetimes."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class ChannelKind(StrEnum):
    DIRECT = "direct"  # exactly two members, one channel per pair
    GROUP = "group"
    BROADCAST = "broadcast"  # only owners and admins post


class Role(StrEnum):
    OWNER = "owner"
    ADMIN = "admin"
    MEMBER = "member"


class EventName(StrEnum):
    """Channel-log event names; each is the ``{event}`` segment of the broker topic."""

    MESSAGE_POSTED = "message_posted"
    MESSAGE_EDITED = "message_edited"
    MESSAGE_DELETED = "message_deleted"
    MEMBER_ADDED = "member_added"
    MEMBER_REMOVED = "member_removed"
    CHANNEL_UPDATED = "channel_updated"
    # conversation features (docs/conversation.md)
    REACTION_ADDED = "reaction_added"
    REACTION_REMOVED = "reaction_removed"
    MESSAGE_PINNED = "message_pinned"
    MESSAGE_UNPINNED = "message_unpinned"
    TASK_CREATED = "task_created"
    TASK_COMPLETED = "task_completed"


@dataclass(frozen=True, slots=True)
class Channel:
    id: str
    org: str
    kind: ChannelKind
    name: str
    topic: str
    created_at: datetime
    created_by: str
    member_count: int
    last_seq: int


@dataclass(frozen=True, slots=True)
class Member:
    channel_id: str
    user_id: str
    role: Role
    joined_at: datetime
    read_seq: int


@dataclass(frozen=True, slots=True)
class Message:
    id: str
    org: str
    channel_id: str
    seq: int
    author: str
    text: str
    created_at: datetime
    edited_at: datetime | None = None
    deleted: bool = False
    idempotency_key: str | None = None


@dataclass(frozen=True, slots=True)
class ChannelEvent:
    """One entry of a channel's log: ``seq`` is strictly increasing by one per channel."""

    org: str
    channel_id: str
    seq: int
    event: EventName
    data: dict[str, Any]
    ts: datetime
    actor: str

    @property
    def topic(self) -> str:
        return f"events.{self.org}.conversations.conversation.{self.event}.{self.channel_id}"


@dataclass(frozen=True, slots=True)
class ChannelSummary:
    """A channel as listed for one user: with their unread count and the last message."""

    channel: Channel
    role: Role
    read_seq: int
    unread: int
    last_message: Message | None


@dataclass(frozen=True, slots=True)
class Receipt:
    user_id: str
    read_seq: int
    updated_at: datetime | None


@dataclass(frozen=True, slots=True)
class Profile:
    org: str
    user_id: str
    display_name: str | None = None
    avatar_url: str | None = None
    updated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class PostResult:
    message: Message
    #: The log event written with it; ``None`` when an idempotent retry returned the original.
    event: ChannelEvent | None
    created: bool


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    #: Opaque cursor for the next page, or ``None`` when there is no more.
    next_cursor: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
