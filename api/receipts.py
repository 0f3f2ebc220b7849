"""``/v1/channels/{id}/read`` and ``/receipts``: read positions."""

from __future__ import annotations

from quart_schema import tag_blueprint, validate_request, validate_response

from parley.api.blueprints import authenticated_blueprint
from parley.api.deps import claims, services
from parley.api.schemas import ErrorOut, MarkReadIn, ReadOut, ReceiptList, ReceiptOut

bp = authenticated_blueprint("receipts", __name__)
tag_blueprint(bp, ["receipts"])


@bp.post("/channels/<channel_id>/read")
@validate_request(MarkReadIn)
@validate_response(ReadOut)
@validate_response(ErrorOut, 404)
async def mark_read(channel_id: str, data: MarkReadIn) -> ReadOut:
    """Move my read position forward (never back, never past the last seq); other members
    get a ``read_receipt`` push when it moves."""
    c = claims()
    position = await services().receipts.mark_read(c.org, c.sub, channel_id, data.seq)
    view = await services().channels.get_channel(c.org, c.sub, channel_id)
    return ReadOut(channel=channel_id, read_seq=position, unread=view.unread)


@bp.get("/channels/<channel_id>/receipts")
@validate_response(ReceiptList)
@validate_response(ErrorOut, 404)
async def receipts(channel_id: str) -> ReceiptList:
    """Every member's read position."""
    c = claims()
    items = await services().receipts.receipts(c.org, c.sub, channel_id)
    return ReceiptList(items=[ReceiptOut.of(r) for r in items])
