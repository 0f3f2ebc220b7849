"""``/v1/channels``: create, list mine, get one."""

from __future__ import annotations

from quart_schema import tag_blueprint, validate_querystring, validate_request, validate_response

from parley.api.blueprints import authenticated_blueprint
from parley.api.deps import claims, services
from parley.api.schemas import ChannelOut, ChannelPage, CreateChannelIn, ErrorOut, PageQuery

bp = authenticated_blueprint("channels", __name__)
tag_blueprint(bp, ["channels"])


@bp.post("/channels")
@validate_request(CreateChannelIn)
@validate_response(ChannelOut, 201)
@validate_response(ErrorOut, 400)
async def create_channel(data: CreateChannelIn) -> tuple[ChannelOut, int]:
    """Create a channel; the caller becomes its owner.

    A ``direct`` channel has exactly one other member; a second one for the same pair is
    refused with 409 ``conflict``.
    """
    c = claims()
    channel = await services().channels.create_channel(
        c.org, c.sub, kind=data.kind, name=data.name, topic=data.topic, members=data.members
    )
    return ChannelOut.of(channel, role="owner", read_seq=0, unread=0), 201


@bp.get("/channels")
@validate_querystring(PageQuery)
@validate_response(ChannelPage)
async def list_channels(query_args: PageQuery) -> ChannelPage:
    """My channels, newest activity first, with unread counts and the last message."""
    c = claims()
    page = await services().channels.list_channels(
        c.org, c.sub, limit=query_args.limit, cursor=query_args.cursor
    )
    return ChannelPage(
        items=[ChannelOut.summary(s) for s in page.items], next_cursor=page.next_cursor
    )


@bp.get("/channels/<channel_id>")
@validate_response(ChannelOut)
@validate_response(ErrorOut, 404)
async def get_channel(channel_id: str) -> ChannelOut:
    """One channel I am a member of (404 otherwise)."""
    c = claims()
    view = await services().channels.get_channel(c.org, c.sub, channel_id)
    return ChannelOut.of(
        view.channel, role=str(view.member.role), read_seq=view.member.read_seq, unread=view.unread
    )
