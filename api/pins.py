"""``/v1/channels/{id}/pins``: pin, unpin, list (the channel header)."""

from __future__ import annotations

from quart_schema import tag_blueprint, validate_response

from parley.api.blueprints import authenticated_blueprint
from parley.api.deps import claims, services
from parley.api.schemas import ErrorOut, MessageOut, Out, Timestamp
from parley.core.records import Pin
from parley.core.times import rfc3339


class PinOut(Out):
    message: MessageOut
    pinned_by: str
    pinned_at: Timestamp

    @classmethod
    def of(cls, p: Pin) -> PinOut:
        return cls(
            message=MessageOut.of(p.message),
            pinned_by=p.pinned_by,
            pinned_at=rfc3339(p.pinned_at),
        )


class PinListOut(Out):
    items: list[PinOut]


class PinResultOut(Out):
    message_id: str
    pinned: bool
    changed: bool


bp = authenticated_blueprint("pins", __name__)
tag_blueprint(bp, ["pins"])


@bp.put("/channels/<channel_id>/pins/<message_id>")
@validate_response(PinResultOut)
@validate_response(ErrorOut, 404)
async def pin(channel_id: str, message_id: str) -> PinResultOut:
    """Pin a message in the channel (again: unchanged)."""
    c = claims()
    changed = await services().pins.pin(c.org, c.sub, channel_id, message_id, on=True)
    return PinResultOut(message_id=message_id, pinned=True, changed=changed)


@bp.delete("/channels/<channel_id>/pins/<message_id>")
@validate_response(PinResultOut)
@validate_response(ErrorOut, 404)
async def unpin(channel_id: str, message_id: str) -> PinResultOut:
    """Unpin a message (not pinned: unchanged)."""
    c = claims()
    changed = await services().pins.pin(c.org, c.sub, channel_id, message_id, on=False)
    return PinResultOut(message_id=message_id, pinned=False, changed=changed)


@bp.get("/channels/<channel_id>/pins")
@validate_response(PinListOut)
@validate_response(ErrorOut, 404)
async def list_pins(channel_id: str) -> PinListOut:
    """Pinned messages, most recently pinned first."""
    c = claims()
    return PinListOut(
        items=[PinOut.of(p) for p in await services().pins.pins(c.org, c.sub, channel_id)]
    )
