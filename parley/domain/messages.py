"""Messages: posting (through the one pipeline, :mod:`parley.domain.posting`), the
channel's history, one message, and the timeline with thread summaries."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from outcome import Outcome

from parley.core.records import Attachment, Draft, Message, PostResult
from parley.domain import access, rules
from parley.domain.posting import Poster
from parley.domain.views import MessageView, attachments_of, message_views
from parley.store import Store, sql


@dataclass(frozen=True, slots=True)
class MessagePage:
    items: list[Message]
    #: Pass as ``before`` (newest-first pages) or ``after`` (oldest-first) for the next page.
    next_before: int | None = None
    next_after: int | None = None
    #: The files posted with each message (by message id; none for most).
    attachments: dict[str, list[Attachment]] = field(default_factory=dict)


class MessageService:
    def __init__(self, store: Store, poster: Poster) -> None:
        self.store = store
        self.poster = poster

    async def post_message(
        self,
        org: str,
        user_id: str,
        channel_id: str,
        text: str,
        idempotency_key: str | None = None,
    ) -> PostResult:
        """A plain post; membership and role are checked inside the write transaction."""
        draft = Draft(org, channel_id, user_id, text, idempotency_key=idempotency_key)
        return await self.poster.post(draft)

    async def post_messages(self, drafts: Sequence[Draft]) -> list[Outcome[PostResult]]:
        """Plain posts queued together and in order (they share a write batch); each
        one's outcome, in order (a refusal does not stop the others)."""
        return await self.poster.post_many(drafts)

    async def list_messages(
        self,
        org: str,
        user_id: str,
        channel_id: str,
        *,
        before: int | None = None,
        after: int | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = None,
    ) -> MessagePage:
        """Newest first below ``before``; or oldest first above ``after`` (and below
        ``before`` when both are given). ``since``/``until`` bound the creation time."""
        if before is not None:
            rules.check_seq(before, "before")
        if after is not None:
            rules.check_seq(after, "after")
        if since is not None and until is not None and since > until:
            raise rules.bad("'from' is after 'to'")
        n = rules.check_limit(limit, cap=rules.MAX_PAGE_LIMIT)
        await access.membership(self.store, org, user_id, channel_id)
        got = await self.store.read(
            sql.messages.list_messages,
            org,
            channel_id,
            before=before,
            after=after,
            since=since,
            until=until,
            limit=n + 1,
        )
        if after is not None and before is not None:
            got = [m for m in got if m.seq < before]
        items, more = got[:n], len(got) > n
        files = await attachments_of(self.store, org, items)
        if not more or not items:
            return MessagePage(items, attachments=files)
        if after is not None:
            return MessagePage(items, next_after=items[-1].seq, attachments=files)
        return MessagePage(items, next_before=items[-1].seq, attachments=files)

    async def get_message(
        self, org: str, user_id: str, channel_id: str, message_id: str
    ) -> Message:
        await access.membership(self.store, org, user_id, channel_id)
        return await access.message(self.store, org, channel_id, message_id, live=False)

    async def message_view(
        self, org: str, user_id: str, channel_id: str, message_id: str
    ) -> MessageView:
        msg = await self.get_message(org, user_id, channel_id, message_id)
        return (await message_views(self.store, org, user_id, [msg]))[0]

    async def views(self, org: str, user_id: str, messages: list[Message]) -> list[MessageView]:
        """Messages as ``user_id`` sees them (reactions, pin, thread, share link), a fixed
        number of reads for any number of messages (GraphQL's batching). Only for messages
        this reader got from this service (the access check was made then)."""
        return await message_views(self.store, org, user_id, messages)

    async def timeline(
        self, org: str, user_id: str, channel_id: str, *, before: int | None, limit: int | None
    ) -> tuple[list[MessageView], int | None]:
        """Roots (with thread summaries) and replies also sent to the channel, newest
        first; returns the page and the ``before`` of the next page."""
        if before is not None:
            rules.check_seq(before, "before")
        n = rules.check_limit(limit, cap=rules.MAX_PAGE_LIMIT)
        await access.membership(self.store, org, user_id, channel_id)
        got = await self.store.read(
            sql.messages.timeline, org, channel_id, before=before, limit=n + 1
        )
        items = got[:n]
        nxt = items[-1].seq if len(got) > n and items else None
        return await message_views(self.store, org, user_id, items), nxt
