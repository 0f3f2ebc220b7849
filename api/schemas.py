"""Request and response bodies (pydantic, through quart-schema: validation + OpenAPI).

Requests are strict (``"5"`` is not an int) and refuse unknown fields, so a typo such as
``idempotencyKey`` fails loudly instead of being ignored. Query strings are lax (they are
text). Timestamps are RFC 3339 UTC strings with ``Z``. Semantic rules (lengths, roles...)
live in :mod:`parley.domain.rules` so REST and WebSocket share them.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, WithJsonSchema

from parley.core.records import (
    Attachment,
    Channel,
    ChannelSummary,
    Member,
    Message,
    Profile,
    ReactionCount,
    Receipt,
    RemoteMember,
)
from parley.core.times import rfc3339, rfc3339_opt
from parley.domain.views import MessageView

Timestamp = Annotated[str, WithJsonSchema({"type": "string", "format": "date-time"})]


class Body(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")


class Query(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class Out(BaseModel):
    pass


# -- errors ----------------------------------------------------------------------------
class ErrorDetail(Out):
    code: str
    message: str
    #: Facts beside the message, e.g. the current note of a stale edit (409).
    details: dict[str, Any] | None = None


class ErrorOut(Out):
    error: ErrorDetail


# -- channels --------------------------------------------------------------------------
class CreateChannelIn(Body):
    kind: Literal["direct", "group", "broadcast"]
    name: str = ""
    topic: str = ""
    members: list[str] = Field(default_factory=list)


class PageQuery(Query):
    limit: int | None = None
    cursor: str | None = None


class MessageOut(Out):
    id: str
    channel: str
    seq: int
    author: str
    text: str
    created_at: Timestamp
    edited_at: Timestamp | None = None
    deleted: bool = False

    @classmethod
    def of(cls, m: Message) -> MessageOut:
        return cls(
            id=m.id,
            channel=m.channel_id,
            seq=m.seq,
            author=m.author,
            text="" if m.deleted else m.text,
            created_at=rfc3339(m.created_at),
            edited_at=rfc3339_opt(m.edited_at),
            deleted=m.deleted,
        )


class ChannelOut(Out):
    id: str
    kind: str
    name: str
    topic: str
    created_at: Timestamp
    created_by: str
    member_count: int
    last_seq: int
    #: The caller's view: their role, read position and unread count.
    role: str
    read_seq: int
    unread: int
    last_message: MessageOut | None = None

    @classmethod
    def of(
        cls,
        c: Channel,
        *,
        role: str,
        read_seq: int,
        unread: int,
        last_message: Message | None = None,
    ) -> ChannelOut:
        return cls(
            id=c.id,
            kind=str(c.kind),
            name=c.name,
            topic=c.topic,
            created_at=rfc3339(c.created_at),
            created_by=c.created_by,
            member_count=c.member_count,
            last_seq=c.last_seq,
            role=role,
            read_seq=read_seq,
            unread=unread,
            last_message=None if last_message is None else MessageOut.of(last_message),
        )

    @classmethod
    def summary(cls, s: ChannelSummary) -> ChannelOut:
        return cls.of(
            s.channel,
            role=str(s.role),
            read_seq=s.read_seq,
            unread=s.unread,
            last_message=s.last_message,
        )


class ChannelPage(Out):
    items: list[ChannelOut]
    next_cursor: str | None = None


# -- members ---------------------------------------------------------------------------
class AddMemberIn(Body):
    user_id: str
    role: Literal["owner", "admin", "member"] = "member"


class MemberOut(Out):
    user_id: str
    role: str
    joined_at: Timestamp
    read_seq: int

    @classmethod
    def of(cls, m: Member) -> MemberOut:
        return cls(
            user_id=m.user_id,
            role=str(m.role),
            joined_at=rfc3339(m.joined_at),
            read_seq=m.read_seq,
        )


class MemberPage(Out):
    items: list[MemberOut]
    next_cursor: str | None = None


# -- messages --------------------------------------------------------------------------
class PostMessageIn(Body):
    text: str
    idempotency_key: str | None = None


class PostOut(Out):
    message_id: str
    seq: int
    ts: Timestamp
    channel: str
    created: bool


class MessagesQuery(Query):
    before: int | None = None
    after: int | None = None
    limit: int | None = None
    from_: str | None = Field(default=None, alias="from")
    to: str | None = None


class FileOut(Out):
    """An attachment as clients see it (never its blob key)."""

    id: str
    channel_id: str
    uploader: str
    message_id: str | None = None
    name: str
    content_type: str
    size: int
    width: int | None = None
    height: int | None = None
    sha256: str
    created_at: str

    @classmethod
    def of(cls, att: Attachment) -> FileOut:
        return cls(**att.public())


class HistoryMessageOut(MessageOut):
    """A message of a history page: with the files posted with it."""

    attachments: list[FileOut] = Field(default_factory=list)


class MessagePageOut(Out):
    items: list[HistoryMessageOut]
    #: Newest-first pages: pass as ``before`` for the next (older) page.
    next_before: int | None = None
    #: Oldest-first pages (``after`` given): pass as ``after`` for the next (newer) page.
    next_after: int | None = None


# -- receipts --------------------------------------------------------------------------
class MarkReadIn(Body):
    seq: int = Field(ge=0)


class ReadOut(Out):
    channel: str
    read_seq: int
    unread: int


class ReceiptOut(Out):
    user_id: str
    read_seq: int
    updated_at: Timestamp | None = None

    @classmethod
    def of(cls, r: Receipt) -> ReceiptOut:
        return cls(user_id=r.user_id, read_seq=r.read_seq, updated_at=rfc3339_opt(r.updated_at))


class ReceiptList(Out):
    items: list[ReceiptOut]


# -- profiles --------------------------------------------------------------------------
class ProfileIn(Body):
    display_name: str | None = None
    avatar_url: str | None = None


class ProfileOut(Out):
    user_id: str
    display_name: str | None = None
    avatar_url: str | None = None
    updated_at: Timestamp | None = None

    @classmethod
    def of(cls, p: Profile) -> ProfileOut:
        return cls(
            user_id=p.user_id,
            display_name=p.display_name,
            avatar_url=p.avatar_url,
            updated_at=rfc3339_opt(p.updated_at),
        )


# -- service events --------------------------------------------------------------------
class EventIn(Body):
    topic: str
    data: JsonValue = None


class EventBatchIn(Body):
    events: list[EventIn]


class EventOut(Out):
    topic: str
    deliveries: int


class EventBatchOut(Out):
    deliveries: list[int]


# -- streams ---------------------------------------------------------------------------
class ChunkIn(Body):
    chunk: str
    #: Optional: must be the next index (last + 1); a retry of the last chunk is accepted.
    index: int | None = None


class StreamOut(Out):
    stream_id: str
    channel: str
    author: str
    state: Literal["open", "completing", "completed", "cancelled"]
    #: The index of the last event included in ``text``: apply pushed chunks above it.
    index: int
    text: str
    message_id: str | None = None
    seq: int | None = None
    ts: Timestamp | None = None

    @classmethod
    def of(cls, snapshot: dict[str, Any]) -> StreamOut:
        return cls.model_validate(snapshot)


class ChunkOut(Out):
    stream_id: str
    index: int
    state: str


class HealthOut(Out):
    status: str


class ReadyOut(Out):
    """Readiness: ``ready`` or ``unready``, and each check's result."""

    status: str
    checks: dict[str, str]


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


class RemoteAuthorOut(Out):
    """The remote participant who wrote a message in a federated channel."""

    network: Literal["matrix", "xmpp"]
    user: str
    display_name: str
    origin: str

    @classmethod
    def of(cls, r: RemoteMember) -> RemoteAuthorOut:
        return cls(
            network=r.network.value,
            user=r.remote_user,
            display_name=r.display_name,
            origin=r.origin,
        )


class MessageViewOut(MessageOut):
    thread_root: str | None = None
    also_in_channel: bool = False
    thread: ThreadSummaryOut | None = None
    reactions: list[ReactionOut] = Field(default_factory=list)
    pinned: bool = False
    shared: SharedOut | None = None
    #: From someone I blocked: show collapsed (docs/privacy.md).
    collapsed: bool = False
    #: Written by a remote participant (docs/federation.md); ``null`` for Parley users.
    remote: RemoteAuthorOut | None = None
    #: The files posted with it, oldest first (none once deleted).
    attachments: list[FileOut] = Field(default_factory=list)

    @classmethod
    def view(cls, v: MessageView) -> MessageViewOut:
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
            collapsed=v.collapsed,
            remote=None if v.remote is None else RemoteAuthorOut.of(v.remote),
            attachments=[FileOut.of(a) for a in v.attachments],
        )
