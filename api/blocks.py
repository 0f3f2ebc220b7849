"""``/v1/blocks``: the users I blocked (private to me, docs/privacy.md)."""

from __future__ import annotations

from quart import Response
from quart_schema import tag_blueprint, validate_response

from parley.api.blueprints import authenticated_blueprint
from parley.api.deps import claims, services
from parley.api.schemas import ErrorOut, Out, Timestamp
from parley.core.times import rfc3339


class BlockOut(Out):
    user_id: str
    blocked_at: Timestamp


class BlockListOut(Out):
    items: list[BlockOut]


bp = authenticated_blueprint("blocks", __name__)
tag_blueprint(bp, ["privacy"])


@bp.get("/blocks")
@validate_response(BlockListOut)
async def list_blocks() -> BlockListOut:
    """Who I blocked, oldest first."""
    c = claims()
    got = await services().blocks.blocks(c.org, c.sub)
    return BlockListOut(items=[BlockOut(user_id=u, blocked_at=rfc3339(t)) for u, t in got])


@bp.put("/blocks/<user_id>")
@validate_response(ErrorOut, 400)
async def block(user_id: str) -> Response:
    """Block a user (again: no change). 204; nothing tells them."""
    c = claims()
    await services().blocks.block(c.org, c.sub, user_id)
    return Response("", status=204)


@bp.delete("/blocks/<user_id>")
@validate_response(ErrorOut, 400)
async def unblock(user_id: str) -> Response:
    """Lift a block (none: no change). 204."""
    c = claims()
    await services().blocks.unblock(c.org, c.sub, user_id)
    return Response("", status=204)
