"""``/v1/channels/{id}/messages/{message_id}/reactions``: add and remove one emoji."""

from __future__ import annotations

from quart_schema import tag_blueprint, validate_request, validate_response

from parley.api.blueprints import authenticated_blueprint
from parley.api.deps import claims, services
from parley.api.schemas import Body, ErrorOut, Out, ReactionOut


# -- reactions and pins ----------------------------------------------------------------------
class ReactionIn(Body):
    emoji: str


class ReactionListOut(Out):
    message_id: str
    items: list[ReactionOut]


bp = authenticated_blueprint("reactions", __name__)
tag_blueprint(bp, ["reactions"])

REACTIONS = "/channels/<channel_id>/messages/<message_id>/reactions"


@bp.post(REACTIONS)
@validate_request(ReactionIn)
@validate_response(ReactionListOut)
@validate_response(ErrorOut, 404)
async def add_reaction(channel_id: str, message_id: str, data: ReactionIn) -> ReactionListOut:
    """React (one reaction per user per emoji; again is a no-op). Returns the counts."""
    c = claims()
    got = await services().reactions.react(
        c.org, c.sub, channel_id, message_id, data.emoji, on=True
    )
    return ReactionListOut(message_id=message_id, items=[ReactionOut.of(r) for r in got])


@bp.delete(REACTIONS + "/<emoji>")
@validate_response(ReactionListOut)
@validate_response(ErrorOut, 404)
async def remove_reaction(channel_id: str, message_id: str, emoji: str) -> ReactionListOut:
    """Take my reaction back (URL-encode the emoji). Returns the counts."""
    c = claims()
    got = await services().reactions.react(c.org, c.sub, channel_id, message_id, emoji, on=False)
    return ReactionListOut(message_id=message_id, items=[ReactionOut.of(r) for r in got])
