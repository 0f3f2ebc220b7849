"""``/v1/channels/{id}/pins``: pin, unpin, list (the channel header)."""

from __future__ import annotations

from quart_schema import tag_blueprint, validate_response

from parley.api.convschemas import PinListOut, PinOut, PinResultOut, conv
from parley.api.deps import authenticated_blueprint, claims
from parley.api.schemas import ErrorOut

bp = authenticated_blueprint("pins", __name__)
tag_blueprint(bp, ["pins"])


@bp.put("/channels/<channel_id>/pins/<message_id>")
@validate_response(PinResultOut)
@validate_response(ErrorOut, 404)
async def pin(channel_id: str, message_id: str) -> PinResultOut:
    """Pin a message in the channel (again: unchanged)."""
    c = claims()
    changed = await conv().pin(c.org, c.sub, channel_id, message_id, on=True)
    return PinResultOut(message_id=message_id, pinned=True, changed=changed)


@bp.delete("/channels/<channel_id>/pins/<message_id>")
@validate_response(PinResultOut)
@validate_response(ErrorOut, 404)
async def unpin(channel_id: str, message_id: str) -> PinResultOut:
    """Unpin a message (not pinned: unchanged)."""
    c = claims()
    changed = await conv().pin(c.org, c.sub, channel_id, message_id, on=False)
    return PinResultOut(message_id=message_id, pinned=False, changed=changed)


@bp.get("/channels/<channel_id>/pins")
@validate_response(PinListOut)
@validate_response(ErrorOut, 404)
async def list_pins(channel_id: str) -> PinListOut:
    """Pinned messages, most recently pinned first."""
    c = claims()
    return PinListOut(items=[PinOut.of(p) for p in await conv().pins(c.org, c.sub, channel_id)])
