"""``/v1/channels/{id}/messages``: post, page through, get one."""

from __future__ import annotations

from quart_schema import tag_blueprint, validate_querystring, validate_response

from parley.api.blueprints import authenticated_blueprint
from parley.api.deps import claims, services
from parley.api.schemas import (
    ErrorOut,
    FileOut,
    HistoryMessageOut,
    MessageOut,
    MessagePageOut,
    MessagesQuery,
    PostMessageIn,
    PostOut,
)
from parley.api.validation import validate_json
from parley.core.times import parse_ts
from parley.domain.posting import post_reply

bp = authenticated_blueprint("messages", __name__)
tag_blueprint(bp, ["messages"])


@bp.post("/channels/<channel_id>/messages")
@validate_json(PostMessageIn)
@validate_response(PostOut, 201)
@validate_response(PostOut, 200)
@validate_response(ErrorOut, 403)
async def post_message(channel_id: str, data: PostMessageIn) -> tuple[PostOut, int]:
    """Post a message: 201 when new; 200 with the original message and seq when the
    ``idempotency_key`` was used before by the same author in this channel."""
    c = claims()
    result = await services().messages.post_message(
        c.org, c.sub, channel_id, data.text, data.idempotency_key
    )
    return PostOut(**post_reply(result)), 201 if result.created else 200


@bp.get("/channels/<channel_id>/messages")
@validate_querystring(MessagesQuery)
@validate_response(MessagePageOut)
@validate_response(ErrorOut, 400)
async def list_messages(channel_id: str, query_args: MessagesQuery) -> MessagePageOut:
    """Newest first below ``before``; oldest first above ``after``. ``from``/``to`` (ISO
    8601) bound the creation time, inclusive."""
    c = claims()
    q = query_args
    page = await services().messages.list_messages(
        c.org,
        c.sub,
        channel_id,
        before=q.before,
        after=q.after,
        since=None if q.from_ is None else parse_ts(q.from_, what="from"),
        until=None if q.to is None else parse_ts(q.to, what="to"),
        limit=q.limit,
    )
    return MessagePageOut(
        items=[
            HistoryMessageOut(
                **MessageOut.of(m).model_dump(),
                attachments=[FileOut.of(a) for a in page.attachments.get(m.id, [])],
            )
            for m in page.items
        ],
        next_before=page.next_before,
        next_after=page.next_after,
    )


@bp.get("/channels/<channel_id>/messages/<message_id>")
@validate_response(MessageOut)
@validate_response(ErrorOut, 404)
async def get_message(channel_id: str, message_id: str) -> MessageOut:
    """One message of a channel I am a member of."""
    c = claims()
    return MessageOut.of(
        await services().messages.get_message(c.org, c.sub, channel_id, message_id)
    )
