"""Search as the chat sees it: validated input, opaque cursors, client errors.

The store does the work (:mod:`store.search`): membership and tenancy are part of its
query, so there is no filtering here that could leak or miss. See docs/search.md.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from parley.core.codes import ErrorCode
from parley.core.errors import ClientError
from parley.core.times import rfc3339
from parley.domain import rules
from parley.store import Store, codec, sql
from parley.store.sql.search import MAX_LIMIT, MAX_OFFSET, SearchHit, SearchQuery

DEFAULT_LIMIT = 20
MAX_QUERY_CHARS = 256


def hit_json(hit: SearchHit) -> dict[str, Any]:
    m = hit.message
    return {
        "message": {
            "id": m.id,
            "channel": m.channel_id,
            "seq": m.seq,
            "author": m.author,
            "text": m.text,
            "created_at": rfc3339(m.created_at),
            "edited_at": None if m.edited_at is None else rfc3339(m.edited_at),
        },
        "rank": hit.rank,
        "matched": hit.matched,
        "snippet": hit.snippet,
        "highlights": [list(span) for span in hit.highlights],
    }


class SearchService:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def search(
        self,
        org: str,
        user_id: str,
        text: str,
        *,
        channel_id: str | None = None,
        author: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        in_thread: bool | None = None,
        has_attachment: bool | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> tuple[list[SearchHit], str | None]:
        """Hits best first, and the cursor of the next page (None at the end)."""
        if len(text) > MAX_QUERY_CHARS:
            raise ClientError(ErrorCode.BAD_REQUEST, f"q is longer than {MAX_QUERY_CHARS}")
        for value, what in ((text, "q"), (channel_id, "channel"), (author, "author")):
            if value is not None:
                rules.check_clean(value, what)
        n = DEFAULT_LIMIT if limit is None else limit
        if not 1 <= n <= MAX_LIMIT:
            raise ClientError(ErrorCode.BAD_REQUEST, f"limit must be 1 to {MAX_LIMIT}")
        offset = 0
        if cursor is not None:
            try:
                (offset,) = codec.decode_cursor(cursor, int)
            except ValueError:
                raise ClientError(ErrorCode.BAD_REQUEST, "bad cursor") from None
            if not 0 <= offset <= MAX_OFFSET:
                raise ClientError(ErrorCode.BAD_REQUEST, "bad cursor")
        query = SearchQuery(
            text,
            channel_id=channel_id,
            author=author,
            since=since,
            until=until,
            in_thread=in_thread,
            has_attachment=has_attachment,
            limit=min(n + 1, MAX_LIMIT + 1),
            offset=offset,
        )
        try:
            hits = await self.store.read(sql.search.search_messages, org, user_id, query)
        except ValueError as exc:
            raise ClientError(ErrorCode.BAD_REQUEST, f"q: {exc}") from None
        more = len(hits) > n and offset + n <= MAX_OFFSET
        return hits[:n], codec.encode_cursor(offset + n) if more else None
