"""The narrow storage interface. Two backends (SQLite, PostgreSQL), one behaviour.

Every method is tenant-scoped: an id from another org behaves exactly like an id that
does not exist. Writes that append to a channel log assign the channel's next ``seq``
atomically with the write. After each commit the store calls the commit listener,
synchronously and in commit order, with the channel events that commit wrote (in seq
order): that is how events reach the broker in seq order. The listener must not await
or block.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Protocol

from parley.core.records import (
    Channel,
    ChannelEvent,
    ChannelKind,
    ChannelSummary,
    Member,
    Message,
    Page,
    PostResult,
    Profile,
    Receipt,
    Role,
)

CommitListener = Callable[[Sequence[ChannelEvent]], None]
#: Called with the channel's kind and the author's role inside the write transaction;
#: raises (any exception, passed to the caller as is) to refuse the write.
Authorize = Callable[[ChannelKind, Role], None]


class Store(Protocol):
    """Persistence for channels, members, messages, the channel log, receipts, profiles."""

    def set_commit_listener(self, listener: CommitListener | None) -> None: ...

    async def migrate(self) -> int:
        """Apply pending schema migrations; return the schema version now in force."""
        ...

    async def aclose(self) -> None: ...

    # -- channels ---------------------------------------------------------------
    async def create_channel(
        self,
        *,
        org: str,
        kind: ChannelKind,
        name: str,
        topic: str,
        created_by: str,
        members: Sequence[str],
    ) -> tuple[Channel, list[ChannelEvent]]:
        """Create a channel; ``created_by`` becomes owner, ``members`` (deduplicated, creator
        excluded) become members. One ``member_added`` event per member, creator first.
        A second ``direct`` channel for the same pair raises :class:`Conflict`."""
        ...

    async def get_channel(self, org: str, channel_id: str) -> Channel | None: ...

    async def list_channels(
        self, org: str, user_id: str, *, limit: int, cursor: str | None
    ) -> Page[ChannelSummary]:
        """The user's channels, newest activity first, with unread count and last message."""
        ...

    # -- members ----------------------------------------------------------------
    async def get_member(self, org: str, channel_id: str, user_id: str) -> Member | None: ...

    async def list_members(
        self, org: str, channel_id: str, *, limit: int, cursor: str | None
    ) -> Page[Member]: ...

    async def add_member(
        self, org: str, channel_id: str, user_id: str, *, role: Role, actor: str
    ) -> ChannelEvent | None:
        """Add a member; ``None`` if already a member. Raises NotFound for no channel."""
        ...

    async def remove_member(
        self, org: str, channel_id: str, user_id: str, *, actor: str
    ) -> ChannelEvent | None:
        """Remove a member; ``None`` if not a member. Raises NotFound for no channel."""
        ...

    async def user_channel_ids(self, org: str, user_id: str) -> set[str]:
        """Ids of every channel the user is a member of (the broker's delivery filter)."""
        ...

    # -- messages and the log ---------------------------------------------------
    async def post_message(
        self,
        org: str,
        channel_id: str,
        *,
        author: str,
        text: str,
        idempotency_key: str | None = None,
    ) -> PostResult:
        """Append a message (``message_posted`` event, next seq). A repeated
        ``(channel, author, idempotency_key)`` returns the original, ``created=False``."""
        ...

    async def post_as_member(
        self,
        org: str,
        channel_id: str,
        *,
        author: str,
        text: str,
        idempotency_key: str | None = None,
        authorize: Authorize,
    ) -> PostResult:
        """:meth:`post_message` by a member, checked in the write transaction itself:
        raises NotFound if the channel does not exist in the org or ``author`` is not a
        member; then ``authorize(kind, role)`` may refuse; then an idempotent repeat
        returns the original. No read round trip before the write."""
        ...

    async def get_message(self, org: str, channel_id: str, message_id: str) -> Message | None: ...

    async def list_messages(
        self,
        org: str,
        channel_id: str,
        *,
        before: int | None = None,
        after: int | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 50,
    ) -> list[Message]:
        """Messages by seq. With ``after``: ascending from after+1. Otherwise descending
        (newest first) below ``before``. ``since``/``until`` bound created_at (inclusive)."""
        ...

    async def events_after(
        self, org: str, channel_id: str, after_seq: int, *, limit: int
    ) -> list[ChannelEvent]:
        """Log events with seq > after_seq, ascending, at most ``limit``."""
        ...

    # -- read receipts ----------------------------------------------------------
    async def mark_read(self, org: str, channel_id: str, user_id: str, seq: int) -> int:
        """Move the user's read position forward to ``min(seq, last_seq)``; never back.
        Return the position now in force. Raises NotFound if not a member."""
        ...

    async def receipts(self, org: str, channel_id: str) -> list[Receipt]: ...

    async def unread_count(self, org: str, channel_id: str, user_id: str) -> int:
        """Messages (not deleted) after the read position not written by the user."""
        ...

    # -- profiles ---------------------------------------------------------------
    async def get_profile(self, org: str, user_id: str) -> Profile | None: ...

    async def set_profile(
        self, org: str, user_id: str, *, display_name: str | None, avatar_url: str | None
    ) -> Profile: ...
