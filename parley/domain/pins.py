"""Pinned messages of a channel."""

from __future__ import annotations

from parley.core.records import Pin
from parley.domain import access
from parley.store import Store, sql


class PinService:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def pin(
        self, org: str, user_id: str, channel_id: str, message_id: str, *, on: bool
    ) -> bool:
        """Any member pins and unpins; returns whether anything changed."""
        await access.membership(self.store, org, user_id, channel_id)
        await access.message(self.store, org, channel_id, message_id)
        async with access.store_errors("message"):
            ev = await self.store.write(
                sql.pins.set_pin, org, channel_id, message_id, user_id, on=on
            )
        return ev is not None

    async def pins(self, org: str, user_id: str, channel_id: str) -> list[Pin]:
        await access.membership(self.store, org, user_id, channel_id)
        return await self.store.read(sql.pins.list_pins, org, channel_id)
