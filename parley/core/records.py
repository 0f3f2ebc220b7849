"""Plain records: what the store returns and the domain hands on. Timestamps are
timezone-aware UTC datetimes."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Generic, TypeVar

from parley.core.events import EventName
from parley.core.times import rfc3339
from parley.core.topics import channel_topic

T = TypeVar("T")


class ChannelKind(StrEnum):
    DIRECT = "direct"  # exactly two members, one channel per pair
    GROUP = "group"
    BROADCAST = "broadcast"  # only owners and admins post


class Role(StrEnum):
    OWNER = "owner"
    ADMIN = "admin"
    MEMBER = "member"


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
        return channel_topic(self.org, self.event, self.channel_id)


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
class Draft:
    """A message about to be posted: every kind of post is one of these (plain, a reply
    in a thread, a share, a message carrying files, a completed bot stream)."""

    org: str
    channel_id: str
    author: str
    text: str
    idempotency_key: str | None = None
    #: Reply in the thread of this message (a reply's id means its thread).
    thread_root: str | None = None
    #: A reply also shown in the channel's timeline.
    also_in_channel: bool = False
    #: A shared message's snapshot and link: channel_id, message_id, seq, author, text,
    #: created_at (the link is shown only to readers who can open it).
    shared: dict[str, Any] | None = None
    #: Files the author uploaded to this channel that no message carries yet.
    file_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class PostResult:
    message: Message
    #: The log event written with it; ``None`` when an idempotent retry returned the original.
    event: ChannelEvent | None
    created: bool
    #: The files the message carries (file messages).
    attachments: tuple[Attachment, ...] = ()


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    #: Opaque cursor for the next page, or ``None`` when there is no more.
    next_cursor: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


# -- conversation features (docs/conversation.md) --------------------------------------


@dataclass(frozen=True, slots=True)
class MessageMeta:
    thread_root: str | None = None
    also_in_channel: bool = False
    #: A shared message's snapshot and link: channel_id, message_id, seq, author, text,
    #: created_at.
    shared: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class ThreadSummary:
    root_id: str
    reply_count: int
    last_reply_at: datetime | None
    participants: list[str]


@dataclass(frozen=True, slots=True)
class ReactionCount:
    emoji: str
    count: int
    me: bool


@dataclass(frozen=True, slots=True)
class Pin:
    message: Message
    pinned_by: str
    pinned_at: datetime


@dataclass(frozen=True, slots=True)
class Bookmark:
    message: Message
    note: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Version:
    version: int
    text: str
    written_at: datetime
    replaced_at: datetime


@dataclass(frozen=True, slots=True)
class Team:
    id: str
    org: str
    name: str
    created_by: str
    created_at: datetime
    members: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Task:
    id: str
    org: str
    channel_id: str
    message_id: str
    message_seq: int
    title: str
    assignee: str | None
    due_at: datetime | None
    created_by: str
    created_at: datetime
    completed_at: datetime | None = None
    completed_by: str | None = None


@dataclass(frozen=True, slots=True)
class Mention:
    channel_id: str
    seq: int
    message_id: str


def task_data(t: Task) -> dict[str, Any]:
    """The payload of task events (channel log and the tasks topic)."""
    return {
        "id": t.id,
        "channel_id": t.channel_id,
        "message_id": t.message_id,
        "message_seq": t.message_seq,
        "title": t.title,
        "assignee": t.assignee,
        "due_at": None if t.due_at is None else rfc3339(t.due_at),
        "created_by": t.created_by,
        "created_at": rfc3339(t.created_at),
        "completed_at": None if t.completed_at is None else rfc3339(t.completed_at),
        "completed_by": t.completed_by,
    }


def snapshot(shared: dict[str, Any]) -> dict[str, Any]:
    """A share as every reader may see it: the text snapshot without the link."""
    return {k: shared.get(k) for k in ("author", "text", "created_at")}


# -- files (docs/files.md) -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Attachment:
    id: str
    org: str
    channel_id: str
    uploader: str
    message_id: str | None
    name: str
    content_type: str
    size: int
    width: int | None
    height: int | None
    sha256: str
    blob_key: str
    created_at: datetime

    def public(self) -> dict[str, Any]:
        """The fields clients see (never the blob key)."""
        return {
            "id": self.id,
            "channel_id": self.channel_id,
            "uploader": self.uploader,
            "message_id": self.message_id,
            "name": self.name,
            "content_type": self.content_type,
            "size": self.size,
            "width": self.width,
            "height": self.height,
            "sha256": self.sha256,
            "created_at": rfc3339(self.created_at),
        }


# -- federation (docs/federation.md) ---------------------------------------------------


class Network(StrEnum):
    """The remote networks a channel can be linked to."""

    MATRIX = "matrix"
    XMPP = "xmpp"


#: User ids of remote participants start with their network's prefix
#: (``matrix:@bob:example.org``); Parley never relays what such an author wrote (loop
#: prevention), so these prefixes are reserved.
REMOTE_PREFIXES = tuple(f"{n.value}:" for n in Network)


@dataclass(frozen=True, slots=True)
class FederationLink:
    """A channel linked by its org to one remote room."""

    id: str
    org: str
    channel_id: str
    network: Network
    #: As the admin gave it: a Matrix room id (``!x:hs``) or alias (``#x:hs``), a MUC JID.
    remote: str
    #: The Matrix room id the alias resolved to (the MUC JID for XMPP); ``None`` until known.
    room_id: str | None
    created_by: str
    created_at: datetime
    #: The outbox cursor: the last channel-log seq relayed (or skipped).
    relayed_seq: int
    #: Log events given up on (the backlog was over its bound, or the remote refused them).
    dropped: int = 0


@dataclass(frozen=True, slots=True)
class RemoteMember:
    """A remote participant of a linked channel. ``user_id`` is how Parley names them
    (``matrix:@bob:example.org``, ``xmpp:room@muc.example.org/bob``): the author of
    their messages."""

    link_id: str
    channel_id: str
    user_id: str
    network: Network
    remote_user: str
    display_name: str
    #: The server they come from.
    origin: str
    last_seen: datetime
