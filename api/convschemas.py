"""Bodies of the conversation endpoints (docs/conversation.md), and ``conv()``: the
:class:`ConversationService` of the running app."""

from __future__ import annotations

from pydantic import Field

from parley.api.deps import services
from parley.api.schemas import Body, MessageOut, Out, Query, Timestamp
from parley.core.records import Bookmark, Pin, ReactionCount, Task, Team, Version
from parley.core.times import rfc3339, rfc3339_opt
from parley.domain.conversation import ConversationService, MessageView, ThreadView


def conv() -> ConversationService:
    return services().conversation


# -- messages as a reader sees them --------------------------------------------------------
class ReactionOut(Out):
    emoji: str
    count: int
    me: bool

    @classmethod
    def of(cls, r: ReactionCount) -> ReactionOut:
        return cls(emoji=r.emoji, count=r.count, me=r.me)


class ThreadSummaryOut(Out):
    reply_count: int
    last_reply_at: Timestamp | None = None
    participants: list[str]


class SharedOut(Out):
    """A shared message's snapshot; the link (channel, message id, seq) only for readers
    who are members of the source channel."""

    author: str | None = None
    text: str | None = None
    created_at: Timestamp | None = None
    channel_id: str | None = None
    message_id: str | None = None
    seq: int | None = None


class ConvMessageOut(MessageOut):
    thread_root: str | None = None
    also_in_channel: bool = False
    thread: ThreadSummaryOut | None = None
    reactions: list[ReactionOut] = Field(default_factory=list)
    pinned: bool = False
    shared: SharedOut | None = None

    @classmethod
    def view(cls, v: MessageView) -> ConvMessageOut:
        base = MessageOut.of(v.message).model_dump()
        t = v.thread
        return cls(
            **base,
            thread_root=v.meta.thread_root,
            also_in_channel=v.meta.also_in_channel,
            thread=None
            if t is None
            else ThreadSummaryOut(
                reply_count=t.reply_count,
                last_reply_at=rfc3339_opt(t.last_reply_at),
                participants=t.participants,
            ),
            reactions=[ReactionOut.of(r) for r in v.reactions],
            pinned=v.pinned,
            shared=None if v.shared is None else SharedOut(**v.shared),
        )


class TimelineQuery(Query):
    before: int | None = None
    limit: int | None = None


class TimelineOut(Out):
    items: list[ConvMessageOut]
    next_before: int | None = None


# -- threads -------------------------------------------------------------------------------
class ThreadQuery(Query):
    after: int | None = None
    limit: int | None = None


class ThreadOut(Out):
    root: ConvMessageOut
    replies: list[ConvMessageOut]
    unread: int

    @classmethod
    def of(cls, t: ThreadView) -> ThreadOut:
        return cls(
            root=ConvMessageOut.view(t.root),
            replies=[ConvMessageOut.view(r) for r in t.replies],
            unread=t.unread,
        )


class ThreadItemOut(Out):
    root: ConvMessageOut
    unread: int


class ThreadListOut(Out):
    items: list[ThreadItemOut]


class ReplyIn(Body):
    text: str
    also_send_to_channel: bool = False
    idempotency_key: str | None = None


class ThreadReadIn(Body):
    seq: int = Field(ge=0)


class ThreadReadOut(Out):
    root: str
    read_seq: int


# -- edit, delete, share ---------------------------------------------------------------------
class EditIn(Body):
    text: str


class VersionOut(Out):
    version: int
    text: str
    written_at: Timestamp
    replaced_at: Timestamp

    @classmethod
    def of(cls, v: Version) -> VersionOut:
        return cls(
            version=v.version,
            text=v.text,
            written_at=rfc3339(v.written_at),
            replaced_at=rfc3339(v.replaced_at),
        )


class VersionListOut(Out):
    current: MessageOut
    #: Earlier versions, oldest first.
    items: list[VersionOut]


class ShareIn(Body):
    channel: str
    comment: str | None = None


# -- reactions and pins ----------------------------------------------------------------------
class ReactionIn(Body):
    emoji: str


class ReactionListOut(Out):
    message_id: str
    items: list[ReactionOut]


class PinOut(Out):
    message: MessageOut
    pinned_by: str
    pinned_at: Timestamp

    @classmethod
    def of(cls, p: Pin) -> PinOut:
        return cls(
            message=MessageOut.of(p.message),
            pinned_by=p.pinned_by,
            pinned_at=rfc3339(p.pinned_at),
        )


class PinListOut(Out):
    items: list[PinOut]


class PinResultOut(Out):
    message_id: str
    pinned: bool
    changed: bool


# -- bookmarks -------------------------------------------------------------------------------
class BookmarkIn(Body):
    channel: str
    message_id: str
    note: str | None = None


class BookmarkOut(Out):
    message: MessageOut
    note: str | None = None
    created_at: Timestamp

    @classmethod
    def of(cls, b: Bookmark) -> BookmarkOut:
        return cls(
            message=MessageOut.of(b.message), note=b.note, created_at=rfc3339(b.created_at)
        )


class BookmarkPage(Out):
    items: list[BookmarkOut]
    next_cursor: str | None = None


# -- mentions and teams ----------------------------------------------------------------------
class MentionOut(Out):
    seq: int
    message_id: str


class MentionsOut(Out):
    channel: str
    #: Mentions after my read position in the channel.
    unread: int
    #: The latest 50, newest first.
    items: list[MentionOut]


class TeamIn(Body):
    name: str
    members: list[str] = Field(default_factory=list)


class TeamMemberIn(Body):
    user_id: str


class TeamOut(Out):
    id: str
    name: str
    created_by: str
    created_at: Timestamp
    members: list[str]

    @classmethod
    def of(cls, t: Team) -> TeamOut:
        return cls(
            id=t.id,
            name=t.name,
            created_by=t.created_by,
            created_at=rfc3339(t.created_at),
            members=t.members,
        )


class TeamListOut(Out):
    items: list[TeamOut]


# -- tasks -----------------------------------------------------------------------------------
class TaskIn(Body):
    title: str
    assignee: str | None = None
    #: ISO 8601; no offset means UTC.
    due: str | None = None


class TaskOut(Out):
    id: str
    channel: str
    message_id: str
    message_seq: int
    title: str
    assignee: str | None = None
    due_at: Timestamp | None = None
    created_by: str
    created_at: Timestamp
    completed_at: Timestamp | None = None
    completed_by: str | None = None

    @classmethod
    def of(cls, t: Task) -> TaskOut:
        return cls(
            id=t.id,
            channel=t.channel_id,
            message_id=t.message_id,
            message_seq=t.message_seq,
            title=t.title,
            assignee=t.assignee,
            due_at=rfc3339_opt(t.due_at),
            created_by=t.created_by,
            created_at=rfc3339(t.created_at),
            completed_at=rfc3339_opt(t.completed_at),
            completed_by=t.completed_by,
        )


class TaskListOut(Out):
    items: list[TaskOut]
