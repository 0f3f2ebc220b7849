"""``/v1/bookmarks``: my saved messages across channels."""

from __future__ import annotations

from quart import Response
from quart_schema import tag_blueprint, validate_querystring, validate_request, validate_response

from parley.api.blueprints import authenticated_blueprint
from parley.api.deps import claims, services
from parley.api.schemas import Body, ErrorOut, MessageOut, Out, PageQuery, Timestamp
from parley.core.records import Bookmark
from parley.core.times import rfc3339


# -- bookmarks -------------------------------------------------------------------------------
class BookmarkIn(Body):
    channel: str
    message_id: str
    note: str | None = None


class BookmarkOut(Out):
    message: MessageOut
    note: str | None = None
    created_at: Timestamp

    @classmethod
    def of(cls, b: Bookmark) -> BookmarkOut:
        return cls(message=MessageOut.of(b.message), note=b.note, created_at=rfc3339(b.created_at))


class BookmarkPage(Out):
    items: list[BookmarkOut]
    next_cursor: str | None = None


bp = authenticated_blueprint("bookmarks", __name__)
tag_blueprint(bp, ["bookmarks"])


@bp.post("/bookmarks")
@validate_request(BookmarkIn)
@validate_response(BookmarkOut, 201)
@validate_response(ErrorOut, 404)
async def add_bookmark(data: BookmarkIn) -> tuple[BookmarkOut, int]:
    """Save a message of a channel I am in (again: updates the note)."""
    c = claims()
    b = await services().bookmarks.bookmark(c.org, c.sub, data.channel, data.message_id, data.note)
    return BookmarkOut.of(b), 201


@bp.get("/bookmarks")
@validate_querystring(PageQuery)
@validate_response(BookmarkPage)
@validate_response(ErrorOut, 400)
async def list_bookmarks(query_args: PageQuery) -> BookmarkPage:
    """Newest first; messages I can no longer see (left channel, deleted) are hidden."""
    c = claims()
    items, nxt = await services().bookmarks.bookmarks(
        c.org, c.sub, limit=query_args.limit, cursor=query_args.cursor
    )
    return BookmarkPage(items=[BookmarkOut.of(b) for b in items], next_cursor=nxt)


@bp.delete("/bookmarks/<message_id>")
@validate_response(ErrorOut, 404)
async def remove_bookmark(message_id: str) -> Response:
    """Remove my bookmark of a message. 204."""
    c = claims()
    await services().bookmarks.unbookmark(c.org, c.sub, message_id)
    return Response("", status=204)
