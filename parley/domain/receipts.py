"""Read receipts: a member's read position (forward only), pushed to the channel."""

from __future__ import annotations

from parley.core.events import Ephemeral
from parley.core.ports import EventSink
from parley.core.records import Receipt
from parley.domain import access, rules
from parley.store import Store, sql


class ReceiptService:
    def __init__(self, store: Store, sink: EventSink) -> None:
        self.store = store
        self.sink = sink

    async def mark_read(self, org: str, user_id: str, channel_id: str, seq: int) -> int:
        rules.check_seq(seq)
        _, member = await access.membership(self.store, org, user_id, channel_id)
        async with access.store_errors():
            position = await self.store.write(sql.receipts.mark_read, org, channel_id, user_id, seq)
        if position > member.read_seq:
            self.sink.publish_channel_ephemeral(
                org, channel_id, Ephemeral.READ_RECEIPT, {"user_id": user_id, "seq": position}
            )
        return position

    async def receipts(self, org: str, user_id: str, channel_id: str) -> list[Receipt]:
        await access.membership(self.store, org, user_id, channel_id)
        return await self.store.read(sql.receipts.receipts, org, channel_id)
