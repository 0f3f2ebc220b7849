"""A user's bookmarks of messages in channels they belong to."""

from __future__ import annotations

from parley.core.records import Bookmark
from parley.domain import access, content, rules
from parley.store import Store, sql


class BookmarkService:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def bookmark(
        self, org: str, user_id: str, channel_id: str, message_id: str, note: str | None
    ) -> Bookmark:
        note = content.check_note(note)
        await access.membership(self.store, org, user_id, channel_id)
        await access.message(self.store, org, channel_id, message_id)
        async with access.store_errors("message"):
            return await self.store.write(
                sql.bookmarks.set_bookmark, org, user_id, channel_id, message_id, note
            )

    async def unbookmark(self, org: str, user_id: str, message_id: str) -> None:
        removed = rules.is_clean(message_id) and await self.store.write(
            sql.bookmarks.delete_bookmark, org, user_id, message_id
        )
        if not removed:
            raise access.not_found("bookmark")

    async def bookmarks(
        self, org: str, user_id: str, *, limit: int | None, cursor: str | None
    ) -> tuple[list[Bookmark], str | None]:
        n = rules.check_limit(limit, cap=rules.MAX_PAGE_LIMIT)
        try:
            return await self.store.read(
                sql.bookmarks.list_bookmarks, org, user_id, limit=n, cursor=cursor or None
            )
        except ValueError as exc:
            raise rules.bad(f"bad cursor: {exc}") from None
