"""The WebSocket's store-bound ops (:class:`parley.core.ports.ChannelOps`), answered by the
domain services: ``post``, ``read``, recovery and the conversation ops (docs/protocol.md)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from outcome import Error

from parley.core.codes import ErrorCode
from parley.core.errors import ClientError
from parley.core.records import ChannelEvent, Draft
from parley.core.times import rfc3339
from parley.domain import rules
from parley.domain.posting import post_reply
from parley.domain.services import Services


def _field(body: dict[str, Any], name: str, kind: type) -> Any:
    value = body.get(name)
    if not isinstance(value, kind) or isinstance(value, bool) is not (kind is bool):
        raise rules.bad(f"'{name}' must be a {kind.__name__}")
    return value


class WebSocketOps:
    """What a connection's session calls; each op goes to the service that owns it."""

    def __init__(self, services: Services) -> None:
        self._s = services

    async def user_channel_ids(self, org: str, user_id: str) -> set[str]:
        return await self._s.channels.user_channel_ids(org, user_id)

    async def user_channel_sets(
        self, users: Sequence[tuple[str, str]]
    ) -> dict[tuple[str, str], set[str]]:
        return await self._s.channels.user_channel_sets(users)

    async def last_seqs(self, org: str, user_id: str, channel_ids: Sequence[str]) -> dict[str, int]:
        return await self._s.channels.last_seqs(org, user_id, channel_ids)

    async def post(
        self, org: str, user_id: str, channel_id: str, text: str, idempotency_key: str | None
    ) -> dict[str, Any]:
        result = await self._s.messages.post_message(
            org, user_id, channel_id, text, idempotency_key
        )
        return post_reply(result)

    async def post_many(self, drafts: Sequence[Draft]) -> list[dict[str, Any] | Exception]:
        results = await self._s.messages.post_messages(drafts)
        replies: list[dict[str, Any] | Exception] = []
        for r in results:
            if isinstance(r, Error):
                replies.append(_as_exception(r.error))
            else:
                replies.append(post_reply(r.unwrap()))
        return replies

    async def mark_read(self, org: str, user_id: str, channel_id: str, seq: int) -> int:
        return await self._s.receipts.mark_read(org, user_id, channel_id, seq)

    async def events_after(
        self, org: str, user_id: str, channel_id: str, after_seq: int, limit: int
    ) -> list[ChannelEvent]:
        return await self._s.channels.events_after(org, user_id, channel_id, after_seq, limit)

    async def conversation_op(
        self, org: str, user_id: str, op: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        """``react`` / ``edit`` / ``delete`` / ``reply`` with a command's body; the reply
        fields."""
        channel = _field(body, "channel", str)
        if op == "reply":
            also = body.get("also_send_to_channel", False)
            if not isinstance(also, bool):
                raise rules.bad("'also_send_to_channel' must be a boolean")
            key = body.get("idempotency_key")
            result = await self._s.threads.reply(
                org,
                user_id,
                channel,
                _field(body, "root", str),
                _field(body, "text", str),
                also_in_channel=also,
                idempotency_key=key if key is None else _field(body, "idempotency_key", str),
            )
            return post_reply(result)
        message_id = _field(body, "message_id", str)
        done: dict[str, Any] = {"channel": channel, "message_id": message_id}
        if op == "react":
            remove = body.get("remove", False)
            if not isinstance(remove, bool):
                raise rules.bad("'remove' must be a boolean")
            emoji = _field(body, "emoji", str)
            got = await self._s.reactions.react(
                org, user_id, channel, message_id, emoji, on=not remove
            )
            reactions = [{"emoji": r.emoji, "count": r.count, "me": r.me} for r in got]
            return {**done, "reactions": reactions}
        if op == "edit":
            text = _field(body, "text", str)
            m = await self._s.edits.edit(org, user_id, channel, message_id, text)
            assert m.edited_at is not None
            return {**done, "seq": m.seq, "edited_at": rfc3339(m.edited_at)}
        if op == "delete":
            await self._s.edits.delete(org, user_id, channel, message_id)
            return {**done, "deleted": True}
        raise ClientError(ErrorCode.UNKNOWN_OP, f"unknown op {op!r}")


def _as_exception(error: BaseException) -> Exception:
    if isinstance(error, Exception):
        return error
    raise error  # not an Exception (e.g. Cancelled): not one post's failure
