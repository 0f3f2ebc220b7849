"""Storage of the conversation features: threads, mentions, reactions, pins, bookmarks,
edit history, shares, teams and tasks (docs/conversation.md).

Same shape as :mod:`store.writes` / :mod:`store.reads`: blocking functions over a
:class:`WriteTx` or :class:`Db`, and :class:`ConversationStoreMixin`, whose async methods
:class:`store.sql_store.SqlStore` inherits. Every log write takes the channel's next seq in
its own transaction (``tx.next_seq``), so the commit listener publishes it in seq order.
Message text is edited in place in ``messages.text`` (full-text search indexes it there);
earlier versions go to ``message_versions``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import partial
from typing import Any

from parley.core.records import (
    Bookmark,
    ChannelEvent,
    Mention,
    Message,
    MessageMeta,
    Pin,
    PostResult,
    ReactionCount,
    Task,
    Team,
    ThreadSummary,
    Version,
)
from parley.store import convreads, convwrites
from parley.store.groupcommit import GroupCommitWriter
from parley.store.readpool import ReadPool

# -- the SqlStore mixin -------------------------------------------------------------------


class ConversationStoreMixin:
    """Async entry points; :class:`store.sql_store.SqlStore` provides the writer/readers."""

    _writer: GroupCommitWriter
    _readers: ReadPool

    async def post_conversation_message(
        self,
        org: str,
        channel_id: str,
        *,
        author: str,
        text: str,
        idempotency_key: str | None = None,
        thread_root: str | None = None,
        also_in_channel: bool = False,
        shared: dict[str, Any] | None = None,
    ) -> PostResult:
        fn = partial(
            convwrites.post_message,
            org=org,
            channel_id=channel_id,
            author=author,
            text=text,
            idempotency_key=idempotency_key,
            thread_root=thread_root,
            also_in_channel=also_in_channel,
            shared=shared,
        )
        return await self._writer.submit(fn)

    async def edit_message(
        self, org: str, channel_id: str, message_id: str, *, text: str, actor: str
    ) -> tuple[Message, ChannelEvent]:
        fn = partial(
            convwrites.edit_message,
            org=org,
            channel_id=channel_id,
            message_id=message_id,
            text=text,
            actor=actor,
        )
        return await self._writer.submit(fn)

    async def delete_message(
        self, org: str, channel_id: str, message_id: str, *, actor: str
    ) -> ChannelEvent | None:
        fn = partial(
            convwrites.delete_message,
            org=org,
            channel_id=channel_id,
            message_id=message_id,
            actor=actor,
        )
        return await self._writer.submit(fn)

    async def set_reaction(
        self, org: str, channel_id: str, message_id: str, user_id: str, emoji: str, *, on: bool
    ) -> ChannelEvent | None:
        fn = partial(
            convwrites.set_reaction,
            org=org,
            channel_id=channel_id,
            message_id=message_id,
            user_id=user_id,
            emoji=emoji,
            on=on,
        )
        return await self._writer.submit(fn)

    async def set_pin(
        self, org: str, channel_id: str, message_id: str, user_id: str, *, on: bool
    ) -> ChannelEvent | None:
        fn = partial(
            convwrites.set_pin,
            org=org,
            channel_id=channel_id,
            message_id=message_id,
            user_id=user_id,
            on=on,
        )
        return await self._writer.submit(fn)

    async def set_bookmark(
        self, org: str, user_id: str, channel_id: str, message_id: str, note: str | None
    ) -> Bookmark:
        fn = partial(
            convwrites.set_bookmark,
            org=org,
            user_id=user_id,
            channel_id=channel_id,
            message_id=message_id,
            note=note,
        )
        return await self._writer.submit(fn)

    async def delete_bookmark(self, org: str, user_id: str, message_id: str) -> bool:
        fn = partial(convwrites.delete_bookmark, org=org, user_id=user_id, message_id=message_id)
        return await self._writer.submit(fn)

    async def mark_thread_read(
        self, org: str, channel_id: str, root_id: str, user_id: str, seq: int
    ) -> int:
        fn = partial(
            convwrites.mark_thread_read,
            org=org,
            channel_id=channel_id,
            root_id=root_id,
            user_id=user_id,
            seq=seq,
        )
        return await self._writer.submit(fn)

    async def add_mentions(
        self, org: str, channel_id: str, seq: int, message_id: str, users: Sequence[str]
    ) -> None:
        fn = partial(
            convwrites.add_mentions,
            org=org,
            channel_id=channel_id,
            seq=seq,
            message_id=message_id,
            users=list(users),
        )
        await self._writer.submit(fn)

    async def create_team(
        self, org: str, *, name: str, created_by: str, members: Sequence[str]
    ) -> Team:
        fn = partial(
            convwrites.create_team, org=org, name=name, created_by=created_by, members=list(members)
        )
        return await self._writer.submit(fn)

    async def set_team_member(self, org: str, team_id: str, user_id: str, *, on: bool) -> bool:
        fn = partial(convwrites.set_team_member, org=org, team_id=team_id, user_id=user_id, on=on)
        return await self._writer.submit(fn)

    async def create_task(
        self,
        org: str,
        channel_id: str,
        message_id: str,
        *,
        title: str,
        assignee: str | None,
        due_at: datetime | None,
        created_by: str,
    ) -> tuple[Task, ChannelEvent]:
        fn = partial(
            convwrites.create_task,
            org=org,
            channel_id=channel_id,
            message_id=message_id,
            title=title,
            assignee=assignee,
            due_at=due_at,
            created_by=created_by,
        )
        return await self._writer.submit(fn)

    async def complete_task(
        self, org: str, task_id: str, user_id: str
    ) -> tuple[Task, ChannelEvent | None]:
        fn = partial(convwrites.complete_task, org=org, task_id=task_id, user_id=user_id)
        return await self._writer.submit(fn)

    # -- reads --
    async def message_metas(self, org: str, message_ids: Sequence[str]) -> dict[str, MessageMeta]:
        return await self._readers.run(
            partial(convreads.metas, org=org, message_ids=list(message_ids))
        )

    async def thread_summaries(self, org: str, root_ids: Sequence[str]) -> dict[str, ThreadSummary]:
        return await self._readers.run(
            partial(convreads.thread_summaries, org=org, root_ids=list(root_ids))
        )

    async def reactions(
        self, org: str, message_ids: Sequence[str], user_id: str
    ) -> dict[str, list[ReactionCount]]:
        fn = partial(convreads.reactions, org=org, message_ids=list(message_ids), user_id=user_id)
        return await self._readers.run(fn)

    async def pinned_ids(self, org: str, channel_id: str, message_ids: Sequence[str]) -> set[str]:
        fn = partial(
            convreads.pinned_ids, org=org, channel_id=channel_id, message_ids=list(message_ids)
        )
        return await self._readers.run(fn)

    async def timeline(
        self, org: str, channel_id: str, *, before: int | None, limit: int
    ) -> list[Message]:
        fn = partial(convreads.timeline, org=org, channel_id=channel_id, before=before, limit=limit)
        return await self._readers.run(fn)

    async def thread_replies(
        self, org: str, channel_id: str, root_id: str, *, after: int, limit: int
    ) -> list[Message]:
        fn = partial(
            convreads.thread_replies,
            org=org,
            channel_id=channel_id,
            root_id=root_id,
            after=after,
            limit=limit,
        )
        return await self._readers.run(fn)

    async def thread_unread(
        self, org: str, root_ids: Sequence[str], user_id: str
    ) -> dict[str, int]:
        fn = partial(convreads.thread_unread, org=org, root_ids=list(root_ids), user_id=user_id)
        return await self._readers.run(fn)

    async def channel_threads(self, org: str, channel_id: str, *, limit: int) -> list[str]:
        fn = partial(convreads.channel_threads, org=org, channel_id=channel_id, limit=limit)
        return await self._readers.run(fn)

    async def list_pins(self, org: str, channel_id: str) -> list[Pin]:
        return await self._readers.run(partial(convreads.list_pins, org=org, channel_id=channel_id))

    async def list_bookmarks(
        self, org: str, user_id: str, *, limit: int, cursor: str | None
    ) -> tuple[list[Bookmark], str | None]:
        fn = partial(convreads.list_bookmarks, org=org, user_id=user_id, limit=limit, cursor=cursor)
        return await self._readers.run(fn)

    async def message_versions(self, org: str, message_id: str) -> list[Version]:
        return await self._readers.run(partial(convreads.versions, org=org, message_id=message_id))

    async def mentions(self, org: str, channel_id: str, user_id: str) -> tuple[int, list[Mention]]:
        fn = partial(convreads.mentions, org=org, channel_id=channel_id, user_id=user_id)
        return await self._readers.run(fn)

    async def get_team(self, org: str, team_id: str) -> Team | None:
        return await self._readers.run(partial(convreads.get_team, org=org, team_id=team_id))

    async def list_teams(self, org: str) -> list[Team]:
        return await self._readers.run(partial(convreads.list_teams, org=org))

    async def team_members_by_name(self, org: str, names: Sequence[str]) -> dict[str, list[str]]:
        fn = partial(convreads.team_members_by_name, org=org, names=list(names))
        return await self._readers.run(fn)

    async def get_task(self, org: str, task_id: str) -> Task | None:
        return await self._readers.run(partial(convreads.get_task, org=org, task_id=task_id))

    async def list_tasks(self, org: str, user_id: str, *, limit: int) -> list[Task]:
        return await self._readers.run(
            partial(convreads.list_tasks, org=org, user_id=user_id, limit=limit)
        )
