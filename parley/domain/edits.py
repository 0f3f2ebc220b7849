"""Editing and deleting messages, and their earlier versions."""

from __future__ import annotations

from parley.core.records import Message, Version
from parley.domain import access, content, rules
from parley.store import Store, sql


class EditService:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def edit(
        self, org: str, user_id: str, channel_id: str, message_id: str, text: str
    ) -> Message:
        text = content.check_rich_text(rules.check_text(text))
        await access.membership(self.store, org, user_id, channel_id)
        msg = await access.message(self.store, org, channel_id, message_id)
        if msg.author != user_id:
            raise access.forbidden("only the author may edit a message")
        async with access.store_errors("message"):
            edited, _ = await self.store.write(
                sql.edits.edit_message, org, channel_id, message_id, text=text, actor=user_id
            )
        return edited

    async def delete(self, org: str, user_id: str, channel_id: str, message_id: str) -> None:
        """The author, or an owner/admin of the channel, deletes (idempotent)."""
        _, member = await access.membership(self.store, org, user_id, channel_id)
        msg = await access.message(self.store, org, channel_id, message_id, live=False)
        if msg.author != user_id and not access.is_moderator(member):
            raise access.forbidden("only the author or a channel owner/admin may delete a message")
        async with access.store_errors("message"):
            await self.store.write(
                sql.edits.delete_message, org, channel_id, message_id, actor=user_id
            )

    async def versions(
        self, org: str, user_id: str, channel_id: str, message_id: str
    ) -> tuple[Message, list[Version]]:
        """Earlier versions, oldest first: for the author and channel owners/admins."""
        _, member = await access.membership(self.store, org, user_id, channel_id)
        msg = await access.message(self.store, org, channel_id, message_id)
        if msg.author != user_id and not access.is_moderator(member):
            raise access.forbidden(
                "only the author or a channel owner/admin may see earlier versions"
            )
        return msg, await self.store.read(sql.edits.message_versions, org, message_id)
