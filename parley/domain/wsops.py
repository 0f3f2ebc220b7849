"""The WebSocket's store-bound ops (:class:`parley.core.ports.ChannelOps`), answered by the
domain services."""

from __future__ import annotations

from typing import Any

from parley.core.records import ChannelEvent
from parley.domain.chat import ChatService
from parley.domain.conversation import ConversationService


class WebSocketOps:
    """What a connection's session calls for ``post``, ``read``, recovery and the
    conversation ops; each goes to the service that owns it."""

    def __init__(self, chat: ChatService, conversation: ConversationService) -> None:
        self._chat = chat
        self._conversation = conversation

    async def user_channel_ids(self, org: str, user_id: str) -> set[str]:
        return await self._chat.user_channel_ids(org, user_id)

    async def post(
        self, org: str, user_id: str, channel_id: str, text: str, idempotency_key: str | None
    ) -> dict[str, Any]:
        return await self._chat.post(org, user_id, channel_id, text, idempotency_key)

    async def mark_read(self, org: str, user_id: str, channel_id: str, seq: int) -> int:
        return await self._chat.mark_read(org, user_id, channel_id, seq)

    async def events_after(
        self, org: str, user_id: str, channel_id: str, after_seq: int, limit: int
    ) -> list[ChannelEvent]:
        return await self._chat.events_after(org, user_id, channel_id, after_seq, limit)

    async def conversation_op(
        self, org: str, user_id: str, op: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        return await self._conversation.ws_op(org, user_id, op, body)
