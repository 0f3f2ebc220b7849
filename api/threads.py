"""Threads and the channel view: ``/v1/channels/{id}/timeline`` and ``/threads``."""

from __future__ import annotations

from pydantic import Field
from quart_schema import tag_blueprint, validate_querystring, validate_request, validate_response

from parley.api.blueprints import authenticated_blueprint
from parley.api.deps import claims, services
from parley.api.schemas import Body, ErrorOut, MessageViewOut, Out, PageQuery, PostOut, Query
from parley.domain.posting import post_reply
from parley.domain.views import ThreadView


class TimelineQuery(Query):
    before: int | None = None
    limit: int | None = None


class TimelineOut(Out):
    items: list[MessageViewOut]
    next_before: int | None = None


# -- threads -------------------------------------------------------------------------------
class ThreadQuery(Query):
    after: int | None = None
    limit: int | None = None


class ThreadOut(Out):
    root: MessageViewOut
    replies: list[MessageViewOut]
    unread: int

    @classmethod
    def of(cls, t: ThreadView) -> ThreadOut:
        return cls(
            root=MessageViewOut.view(t.root),
            replies=[MessageViewOut.view(r) for r in t.replies],
            unread=t.unread,
        )


class ThreadItemOut(Out):
    root: MessageViewOut
    unread: int


class ThreadListOut(Out):
    items: list[ThreadItemOut]


class ReplyIn(Body):
    text: str
    also_send_to_channel: bool = False
    idempotency_key: str | None = None


class ThreadReadIn(Body):
    seq: int = Field(ge=0)


class ThreadReadOut(Out):
    root: str
    read_seq: int


bp = authenticated_blueprint("threads", __name__)
tag_blueprint(bp, ["threads"])


@bp.get("/channels/<channel_id>/timeline")
@validate_querystring(TimelineQuery)
@validate_response(TimelineOut)
@validate_response(ErrorOut, 404)
async def timeline(channel_id: str, query_args: TimelineQuery) -> TimelineOut:
    """The channel view, newest first: thread roots with their summaries, plain messages
    and replies also sent to the channel, each with reactions, pin flag and share."""
    c = claims()
    items, nxt = await services().messages.timeline(
        c.org, c.sub, channel_id, before=query_args.before, limit=query_args.limit
    )
    return TimelineOut(items=[MessageViewOut.view(v) for v in items], next_before=nxt)


@bp.get("/channels/<channel_id>/threads")
@validate_querystring(PageQuery)
@validate_response(ThreadListOut)
@validate_response(ErrorOut, 404)
async def list_threads(channel_id: str, query_args: PageQuery) -> ThreadListOut:
    """The channel's threads, latest reply first, with my unread count in each."""
    c = claims()
    got = await services().threads.threads(c.org, c.sub, channel_id, limit=query_args.limit)
    return ThreadListOut(
        items=[ThreadItemOut(root=MessageViewOut.view(v), unread=n) for v, n in got]
    )


@bp.get("/channels/<channel_id>/threads/<root_id>")
@validate_querystring(ThreadQuery)
@validate_response(ThreadOut)
@validate_response(ErrorOut, 404)
async def get_thread(channel_id: str, root_id: str, query_args: ThreadQuery) -> ThreadOut:
    """The root, its replies in seq order (above ``after``), and my unread count."""
    c = claims()
    view = await services().threads.thread(
        c.org, c.sub, channel_id, root_id, after=query_args.after, limit=query_args.limit
    )
    return ThreadOut.of(view)


@bp.post("/channels/<channel_id>/threads/<root_id>/replies")
@validate_request(ReplyIn)
@validate_response(PostOut, 201)
@validate_response(PostOut, 200)
@validate_response(ErrorOut, 404)
async def reply(channel_id: str, root_id: str, data: ReplyIn) -> tuple[PostOut, int]:
    """Reply in a thread (a reply's id means its thread); ``also_send_to_channel`` shows
    the reply in the channel view too. 200 for an idempotent retry."""
    c = claims()
    result = await services().threads.reply(
        c.org,
        c.sub,
        channel_id,
        root_id,
        data.text,
        also_in_channel=data.also_send_to_channel,
        idempotency_key=data.idempotency_key,
    )
    return PostOut(**post_reply(result)), 201 if result.created else 200


@bp.post("/channels/<channel_id>/threads/<root_id>/read")
@validate_request(ThreadReadIn)
@validate_response(ThreadReadOut)
@validate_response(ErrorOut, 404)
async def read_thread(channel_id: str, root_id: str, data: ThreadReadIn) -> ThreadReadOut:
    """Move my read position in the thread forward (never back)."""
    c = claims()
    pos = await services().threads.read_thread(c.org, c.sub, channel_id, root_id, data.seq)
    return ThreadReadOut(root=root_id, read_seq=pos)
