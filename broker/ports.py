"""Narrow interfaces between the broker and the rest of Parley.

The broker knows nothing of storage or REST. The chat service (``parley.chat``) implements
:class:`ChannelOps` for the WebSocket ops that touch channels, and publishes through
:class:`EventSink`, which the broker's :class:`broker.hub.Hub` implements.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from parley.core.records import ChannelEvent


class EventSink(Protocol):
    """Where events go to be fanned out. Every method is synchronous and never awaits."""

    def publish(self, topic: str, data: Any, *, ts: datetime | None = None) -> int:
        """Fan an event out to every matching local subscriber; return deliveries made."""
        ...

    def publish_channel_events(self, events: Sequence[ChannelEvent]) -> None:
        """Fan out committed channel-log events (in seq order) to subscribed members, and
        keep the membership filter current (member_added/member_removed)."""
        ...

    def publish_channel_ephemeral(
        self, org: str, channel_id: str, event: str, data: Any
    ) -> int:
        """Fan out a channel event that is not in the log (no seq), e.g. ``message_stream``
        chunks, to subscribed members of the channel only."""
        ...


class ChannelOps(Protocol):
    """Channel operations available to a WebSocket client. Raise
    :class:`broker.errors.ClientError` for refusals (not a member, bad input)."""

    async def user_channel_ids(self, org: str, user_id: str) -> set[str]: ...

    async def post(
        self, org: str, user_id: str, channel_id: str, text: str, idempotency_key: str | None
    ) -> dict[str, Any]:
        """Post a message; return the reply fields (``message_id``, ``seq``, ``ts``...)."""
        ...

    async def mark_read(self, org: str, user_id: str, channel_id: str, seq: int) -> int:
        """Set the read position (forward only); return the position in force."""
        ...

    async def events_after(
        self, org: str, user_id: str, channel_id: str, after_seq: int, limit: int
    ) -> list[ChannelEvent]:
        """Missed log events for recovery; refuses non-members."""
        ...


class ConversationOps(Protocol):
    """The conversation ops a WebSocket client acts with live (``react``, ``edit``,
    ``delete``, ``reply``; docs/conversation.md). A :class:`ChannelOps` offers them as its
    ``conversation`` attribute when the server runs them."""

    async def ws_op(self, org: str, user_id: str, op: str, body: dict[str, Any]) -> dict[str, Any]:
        """Run the op with the command's body; return the reply fields."""
        ...
