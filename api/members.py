"""``/v1/channels/{id}/members``: list, add, remove."""

from __future__ import annotations

from quart import Response
from quart_schema import tag_blueprint, validate_querystring, validate_request, validate_response

from parley.api.blueprints import authenticated_blueprint
from parley.api.deps import claims, services
from parley.api.schemas import AddMemberIn, ErrorOut, MemberOut, MemberPage, PageQuery

bp = authenticated_blueprint("members", __name__)
tag_blueprint(bp, ["members"])


@bp.get("/channels/<channel_id>/members")
@validate_querystring(PageQuery)
@validate_response(MemberPage)
@validate_response(ErrorOut, 404)
async def list_members(channel_id: str, query_args: PageQuery) -> MemberPage:
    """The channel's members (members only), in pages."""
    c = claims()
    page = await services().members.list_members(
        c.org, c.sub, channel_id, limit=query_args.limit, cursor=query_args.cursor
    )
    return MemberPage(items=[MemberOut.of(m) for m in page.items], next_cursor=page.next_cursor)


@bp.post("/channels/<channel_id>/members")
@validate_request(AddMemberIn)
@validate_response(MemberOut, 201)
@validate_response(MemberOut, 200)
@validate_response(ErrorOut, 403)
async def add_member(channel_id: str, data: AddMemberIn) -> tuple[MemberOut, int]:
    """Any member may add members; 201 when added, 200 when already a member (unchanged)."""
    c = claims()
    member, created = await services().members.add_member(
        c.org, c.sub, channel_id, data.user_id, data.role
    )
    return MemberOut.of(member), 201 if created else 200


@bp.delete("/channels/<channel_id>/members/<user_id>")
@validate_response(ErrorOut, 403)
async def remove_member(channel_id: str, user_id: str) -> Response:
    """Leave (yourself), or remove another member (owners and admins). 204 on success."""
    c = claims()
    await services().members.remove_member(c.org, c.sub, channel_id, user_id)
    return Response("", status=204)
