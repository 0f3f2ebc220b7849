"""``/v1/search``: full-text search over the messages the caller may see (docs/search.md)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field
from quart_schema import tag_blueprint, validate_querystring, validate_response

from parley.api.blueprints import authenticated_blueprint
from parley.api.deps import claims, services
from parley.api.schemas import ErrorOut, Out, Query
from parley.core.times import parse_ts
from parley.domain.search import SearchService, hit_json

bp = authenticated_blueprint("search", __name__)
tag_blueprint(bp, ["search"])


class SearchQueryIn(Query):
    q: str
    channel: str | None = None
    author: str | None = None
    from_: str | None = Field(default=None, alias="from")
    to: str | None = None
    in_thread: bool | None = None
    has_attachment: bool | None = None
    limit: int | None = None
    cursor: str | None = None


class HitMessage(BaseModel):
    id: str
    channel: str
    seq: int
    author: str
    text: str
    created_at: str
    edited_at: str | None = None


class HitOut(Out):
    message: HitMessage
    rank: float
    #: ``text``, or ``files`` when an attachment name matched
    matched: str
    snippet: str
    #: [start, end) character offsets of the matched words in ``snippet``
    highlights: list[list[int]]


class SearchOut(Out):
    items: list[HitOut]
    next_cursor: str | None = None


def service() -> SearchService:
    return services().search


@bp.get("/search")
@validate_querystring(SearchQueryIn)
@validate_response(SearchOut)
@validate_response(ErrorOut, 400)
async def search(query_args: SearchQueryIn) -> SearchOut:
    """Messages of my channels matching every word of ``q`` (``word*`` for a prefix), best
    first, with a snippet and highlights. Filters: ``channel``, ``author``, ``from``/``to``
    (ISO 8601, inclusive), ``in_thread``, ``has_attachment``. Attachment names are searched
    too."""
    c = claims()
    q = query_args
    hits, cursor = await service().search(
        c.org,
        c.sub,
        q.q,
        channel_id=q.channel,
        author=q.author,
        since=None if q.from_ is None else parse_ts(q.from_, what="from"),
        until=None if q.to is None else parse_ts(q.to, what="to"),
        in_thread=q.in_thread,
        has_attachment=q.has_attachment,
        limit=q.limit,
        cursor=q.cursor,
    )
    items: list[dict[str, Any]] = [hit_json(h) for h in hits]
    return SearchOut(items=[HitOut.model_validate(i) for i in items], next_cursor=cursor)
