"""The :class:`Store` implementation shared by both backends.

Writes go to the :class:`GroupCommitWriter` (one connection, group commit); reads go to
the :class:`ReadPool`. The SQL lives in :mod:`store.writes` and :mod:`store.reads`; a
backend only supplies connections (:class:`store.db.Db`) and its migrations.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import partial

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
from parley.store import reads, writes
from parley.store.attachments import AttachmentsMixin
from parley.store.base import Authorize, CommitListener, Store
from parley.store.conversation import ConversationStoreMixin
from parley.store.db import Db, Migration
from parley.store.groupcommit import GroupCommitWriter
from parley.store.readpool import ReadPool
from parley.store.search import SearchMixin


class SqlStore(ConversationStoreMixin, SearchMixin, AttachmentsMixin):
    def __init__(
        self, writer: GroupCommitWriter, readers: ReadPool, migrations: Sequence[Migration]
    ) -> None:
        self._writer = writer
        self._readers = readers
        self._migrations = list(migrations)
        self._closed = False

    @property
    def writer(self) -> GroupCommitWriter:
        return self._writer

    def set_commit_listener(self, listener: CommitListener | None) -> None:
        self._writer.listener = listener

    async def migrate(self) -> int:
        migrations = self._migrations

        def apply(db: Db) -> int:
            return db.migrate(migrations)

        return await self._writer.exclusive(apply)

    async def aclose(self) -> None:
        """Stop accepting writes; queued writes still run. Read connections are closed
        when the ``open_store`` context exits."""
        if not self._closed:
            self._closed = True
            self._writer.close()

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
        fn = partial(
            writes.create_channel,
            org=org,
            kind=ChannelKind(kind),
            name=name,
            topic=topic,
            created_by=created_by,
            members=list(members),
        )
        return await self._writer.submit(fn)

    async def get_channel(self, org: str, channel_id: str) -> Channel | None:
        return await self._readers.run(partial(reads.get_channel, org=org, channel_id=channel_id))

    async def list_channels(
        self, org: str, user_id: str, *, limit: int, cursor: str | None
    ) -> Page[ChannelSummary]:
        fn = partial(reads.list_channels, org=org, user_id=user_id, limit=limit, cursor=cursor)
        return await self._readers.run(fn)

    # -- members ----------------------------------------------------------------
    async def get_member(self, org: str, channel_id: str, user_id: str) -> Member | None:
        fn = partial(reads.get_member, org=org, channel_id=channel_id, user_id=user_id)
        return await self._readers.run(fn)

    async def list_members(
        self, org: str, channel_id: str, *, limit: int, cursor: str | None
    ) -> Page[Member]:
        fn = partial(reads.list_members, org=org, channel_id=channel_id, limit=limit, cursor=cursor)
        return await self._readers.run(fn)

    async def add_member(
        self, org: str, channel_id: str, user_id: str, *, role: Role, actor: str
    ) -> ChannelEvent | None:
        fn = partial(
            writes.add_member,
            org=org,
            channel_id=channel_id,
            user_id=user_id,
            role=Role(role),
            actor=actor,
        )
        return await self._writer.submit(fn)

    async def remove_member(
        self, org: str, channel_id: str, user_id: str, *, actor: str
    ) -> ChannelEvent | None:
        fn = partial(
            writes.remove_member, org=org, channel_id=channel_id, user_id=user_id, actor=actor
        )
        return await self._writer.submit(fn)

    async def user_channel_ids(self, org: str, user_id: str) -> set[str]:
        return await self._readers.run(partial(reads.user_channel_ids, org=org, user_id=user_id))

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
        fn = partial(
            writes.post_message,
            org=org,
            channel_id=channel_id,
            author=author,
            text=text,
            idempotency_key=idempotency_key,
        )
        return await self._writer.submit(fn)

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
        fn = partial(
            writes.post_as_member,
            org=org,
            channel_id=channel_id,
            author=author,
            text=text,
            idempotency_key=idempotency_key,
            authorize=authorize,
        )
        return await self._writer.submit(fn)

    async def get_message(self, org: str, channel_id: str, message_id: str) -> Message | None:
        fn = partial(reads.get_message, org=org, channel_id=channel_id, message_id=message_id)
        return await self._readers.run(fn)

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
        fn = partial(
            reads.list_messages,
            org=org,
            channel_id=channel_id,
            before=before,
            after=after,
            since=since,
            until=until,
            limit=limit,
        )
        return await self._readers.run(fn)

    async def events_after(
        self, org: str, channel_id: str, after_seq: int, *, limit: int
    ) -> list[ChannelEvent]:
        fn = partial(
            reads.events_after, org=org, channel_id=channel_id, after_seq=after_seq, limit=limit
        )
        return await self._readers.run(fn)

    # -- read receipts ----------------------------------------------------------
    async def mark_read(self, org: str, channel_id: str, user_id: str, seq: int) -> int:
        fn = partial(writes.mark_read, org=org, channel_id=channel_id, user_id=user_id, seq=seq)
        return await self._writer.submit(fn)

    async def receipts(self, org: str, channel_id: str) -> list[Receipt]:
        return await self._readers.run(partial(reads.receipts, org=org, channel_id=channel_id))

    async def unread_count(self, org: str, channel_id: str, user_id: str) -> int:
        fn = partial(reads.unread_count, org=org, channel_id=channel_id, user_id=user_id)
        return await self._readers.run(fn)

    # -- profiles ---------------------------------------------------------------
    async def get_profile(self, org: str, user_id: str) -> Profile | None:
        return await self._readers.run(partial(reads.get_profile, org=org, user_id=user_id))

    async def set_profile(
        self, org: str, user_id: str, *, display_name: str | None, avatar_url: str | None
    ) -> Profile:
        fn = partial(
            writes.set_profile,
            org=org,
            user_id=user_id,
            display_name=display_name,
            avatar_url=avatar_url,
        )
        return await self._writer.submit(fn)


def _conforms(store: SqlStore) -> Store:
    """Never called: mypy checks here that SqlStore implements the Store protocol."""
    return store
