"""Sharing a message into another channel: a post (through the one pipeline) that links to
the original, with a snapshot of its text and an optional comment as its text."""

from __future__ import annotations

from parley.core.records import Draft, PostResult
from parley.core.times import rfc3339
from parley.domain import access
from parley.domain.posting import Poster
from parley.store import Store


class ShareService:
    def __init__(self, store: Store, poster: Poster) -> None:
        self.store = store
        self.poster = poster

    async def share(
        self,
        org: str,
        user_id: str,
        channel_id: str,
        message_id: str,
        target: str,
        comment: str | None,
    ) -> PostResult:
        """Post into ``target`` a message linking to the original (both channels must be
        the caller's); readers who cannot open the original see the snapshot only."""
        await access.membership(self.store, org, user_id, channel_id)
        src = await access.message(self.store, org, channel_id, message_id)
        shared = {
            "channel_id": src.channel_id,
            "message_id": src.id,
            "seq": src.seq,
            "author": src.author,
            "text": src.text,
            "created_at": rfc3339(src.created_at),
        }
        draft = Draft(org, target, user_id, comment or "", shared=shared)
        return await self.poster.post(draft, allow_empty=True)
