"""Threads: replies (posted through the one pipeline), a thread with my unread count,
the channel's threads, and my read position in a thread."""

from __future__ import annotations

from parley.core.records import Draft, PostResult
from parley.domain import access, rules
from parley.domain.posting import Poster
from parley.domain.views import MessageView, ThreadView, message_views
from parley.store import Store, sql


class ThreadService:
    def __init__(self, store: Store, poster: Poster) -> None:
        self.store = store
        self.poster = poster

    async def reply(
        self,
        org: str,
        user_id: str,
        channel_id: str,
        root_id: str,
        text: str,
        *,
        also_in_channel: bool = False,
        idempotency_key: str | None = None,
    ) -> PostResult:
        """Reply in the thread of ``root_id`` (a reply's id means its thread)."""
        draft = Draft(
            org,
            channel_id,
            user_id,
            text,
            idempotency_key=idempotency_key,
            thread_root=root_id,
            also_in_channel=also_in_channel,
        )
        return await self.poster.post(draft)

    async def thread(
        self,
        org: str,
        user_id: str,
        channel_id: str,
        root_id: str,
        *,
        after: int | None,
        limit: int | None,
    ) -> ThreadView:
        if after is not None:
            rules.check_seq(after, "after")
        n = rules.check_limit(limit, cap=rules.MAX_PAGE_LIMIT)
        await access.membership(self.store, org, user_id, channel_id)
        msg = await access.message(self.store, org, channel_id, root_id, live=False)
        (root,) = await message_views(self.store, org, user_id, [msg])
        if root.meta.thread_root is not None:
            raise access.not_found("thread")  # a reply is not a thread root
        replies = await self.store.read(
            sql.threads.thread_replies, org, channel_id, root_id, after=after or 0, limit=n
        )
        unread = await self.store.read(sql.threads.thread_unread, org, [root_id], user_id)
        views = await message_views(self.store, org, user_id, replies)
        return ThreadView(root, views, unread.get(root_id, 0))

    async def threads(
        self, org: str, user_id: str, channel_id: str, *, limit: int | None
    ) -> list[tuple[MessageView, int]]:
        """The channel's threads, latest reply first, each with my unread count."""
        n = rules.check_limit(limit, cap=rules.MAX_PAGE_LIMIT)
        await access.membership(self.store, org, user_id, channel_id)
        roots = await self.store.read(sql.threads.channel_threads, org, channel_id, limit=n)
        msgs = [await self.store.read(sql.messages.get_message, org, channel_id, r) for r in roots]
        views = await message_views(self.store, org, user_id, [m for m in msgs if m is not None])
        unread = await self.store.read(sql.threads.thread_unread, org, roots, user_id)
        return [(v, unread.get(v.message.id, 0)) for v in views]

    async def read_thread(
        self, org: str, user_id: str, channel_id: str, root_id: str, seq: int
    ) -> int:
        rules.check_seq(seq)
        await access.membership(self.store, org, user_id, channel_id)
        await access.message(self.store, org, channel_id, root_id)
        async with access.store_errors("message"):
            return await self.store.write(
                sql.threads.mark_thread_read, org, channel_id, root_id, user_id, seq
            )
