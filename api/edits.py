"""Edit, delete, history, share and the full view of one message under
``/v1/channels/{id}/messages/{message_id}``."""

from __future__ import annotations

from quart import Response
from quart_schema import tag_blueprint, validate_request, validate_response

from parley.api.blueprints import authenticated_blueprint
from parley.api.deps import claims, services
from parley.api.schemas import Body, ErrorOut, MessageOut, MessageViewOut, Out, PostOut, Timestamp
from parley.core.records import Version
from parley.core.times import rfc3339
from parley.domain.posting import post_reply


# -- edit, delete, share ---------------------------------------------------------------------
class EditIn(Body):
    text: str


class VersionOut(Out):
    version: int
    text: str
    written_at: Timestamp
    replaced_at: Timestamp

    @classmethod
    def of(cls, v: Version) -> VersionOut:
        return cls(
            version=v.version,
            text=v.text,
            written_at=rfc3339(v.written_at),
            replaced_at=rfc3339(v.replaced_at),
        )


class VersionListOut(Out):
    current: MessageOut
    #: Earlier versions, oldest first.
    items: list[VersionOut]


class ShareIn(Body):
    channel: str
    comment: str | None = None


bp = authenticated_blueprint("edits", __name__)
tag_blueprint(bp, ["messages"])

MESSAGE = "/channels/<channel_id>/messages/<message_id>"


@bp.get(MESSAGE + "/view")
@validate_response(MessageViewOut)
@validate_response(ErrorOut, 404)
async def view_message(channel_id: str, message_id: str) -> MessageViewOut:
    """One message with its thread summary, reactions, pin flag and share."""
    c = claims()
    return MessageViewOut.view(
        await services().messages.message_view(c.org, c.sub, channel_id, message_id)
    )


@bp.patch(MESSAGE)
@validate_request(EditIn)
@validate_response(MessageOut)
@validate_response(ErrorOut, 403)
async def edit_message(channel_id: str, message_id: str, data: EditIn) -> MessageOut:
    """The author edits the text (``message_edited``); the old text is kept as a version."""
    c = claims()
    return MessageOut.of(
        await services().edits.edit(c.org, c.sub, channel_id, message_id, data.text)
    )


@bp.delete(MESSAGE)
@validate_response(ErrorOut, 403)
async def delete_message(channel_id: str, message_id: str) -> Response:
    """The author or a channel owner/admin deletes: a tombstone without text. 204."""
    c = claims()
    await services().edits.delete(c.org, c.sub, channel_id, message_id)
    return Response("", status=204)


@bp.get(MESSAGE + "/versions")
@validate_response(VersionListOut)
@validate_response(ErrorOut, 403)
async def list_versions(channel_id: str, message_id: str) -> VersionListOut:
    """Earlier versions, oldest first (the author and channel owners/admins)."""
    c = claims()
    msg, versions = await services().edits.versions(c.org, c.sub, channel_id, message_id)
    return VersionListOut(current=MessageOut.of(msg), items=[VersionOut.of(v) for v in versions])


@bp.post(MESSAGE + "/share")
@validate_request(ShareIn)
@validate_response(PostOut, 201)
@validate_response(ErrorOut, 404)
async def share_message(channel_id: str, message_id: str, data: ShareIn) -> tuple[PostOut, int]:
    """Share into another channel of mine, with an optional comment as the text."""
    c = claims()
    result = await services().shares.share(
        c.org, c.sub, channel_id, message_id, data.channel, data.comment
    )
    return PostOut(**post_reply(result)), 201
