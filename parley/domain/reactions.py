"""Reactions to messages: one emoji per reaction, counted per emoji with my own flagged."""

from __future__ import annotations

from parley.core.records import ReactionCount
from parley.domain import access, content
from parley.store import Store, sql


class ReactionService:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def react(
        self, org: str, user_id: str, channel_id: str, message_id: str, emoji: str, *, on: bool
    ) -> list[ReactionCount]:
        emoji = content.check_emoji(emoji)
        await access.membership(self.store, org, user_id, channel_id)
        await access.message(self.store, org, channel_id, message_id)
        async with access.store_errors("message"):
            await self.store.write(
                sql.reactions.set_reaction, org, channel_id, message_id, user_id, emoji, on=on
            )
        counts = await self.store.read(sql.reactions.reactions, org, [message_id], user_id)
        return counts.get(message_id, [])
