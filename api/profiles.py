"""``/v1/profile`` (mine) and ``/v1/users/{id}/profile``."""

from __future__ import annotations

from quart_schema import tag_blueprint, validate_request, validate_response

from parley.api.blueprints import authenticated_blueprint
from parley.api.deps import claims, services
from parley.api.schemas import ErrorOut, ProfileIn, ProfileOut

bp = authenticated_blueprint("profiles", __name__)
tag_blueprint(bp, ["profiles"])


@bp.get("/profile")
@validate_response(ProfileOut)
async def get_my_profile() -> ProfileOut:
    """My profile; fields never set read as null."""
    c = claims()
    return ProfileOut.of(await services().profiles.get_profile(c.org, c.sub))


@bp.put("/profile")
@validate_request(ProfileIn)
@validate_response(ProfileOut)
@validate_response(ErrorOut, 400)
async def put_my_profile(data: ProfileIn) -> ProfileOut:
    """Replace my profile: a field left out (or null) is cleared."""
    c = claims()
    profile = await services().profiles.set_profile(
        c.org, c.sub, display_name=data.display_name, avatar_url=data.avatar_url
    )
    return ProfileOut.of(profile)


@bp.get("/users/<user_id>/profile")
@validate_response(ProfileOut)
async def get_profile(user_id: str) -> ProfileOut:
    """Anyone's profile in my org; never set reads as nulls."""
    c = claims()
    return ProfileOut.of(await services().profiles.get_profile(c.org, user_id))
